"""Pure logic of the dlq commands: batch packing, send entries, archive records, routing, native decision."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from picops.core.dlq.archive import read_archive
from picops.core.dlq.messages import MAX_BATCH_BYTES, QueueMessage, pack_batches
from picops.core.dlq.move_task import native_unavailable_reason, validate_native_rate
from picops.core.dlq.queues import QueueRef, check_same_kind
from picops.core.dlq.redrive import Router, compile_filter, matches
from picops.errors import UsageError, ValidationFailed


def _msg(i: int, body: str = "x", **attributes: str) -> QueueMessage:
    return QueueMessage(message_id=f"id-{i}", body=body, attributes=attributes, receipt_handle=f"rh-{i}")


def _queue(name: str, fifo: bool = False) -> QueueRef:
    return QueueRef(
        name=name, url=f"http://127.0.0.1/1/{name}", arn=f"arn:aws:sqs:us-east-1:1:{name}", fifo=fifo
    )


def test_pack_batches_by_entry_count_and_bytes_in_order() -> None:
    small = [_msg(i) for i in range(23)]
    assert [len(b) for b in pack_batches(small)] == [10, 10, 3]
    big = [_msg(i, body="a" * 400_000) for i in range(5)]
    batches = pack_batches(big)
    assert [len(b) for b in batches] == [2, 2, 1]
    assert all(sum(m.size_bytes() for m in b) <= MAX_BATCH_BYTES for b in batches)
    assert [m.message_id for b in batches for m in b] == [f"id-{i}" for i in range(5)]


def test_size_counts_utf8_and_attributes() -> None:
    message = QueueMessage(
        message_id="m",
        body="é",  # 2 bytes in UTF-8
        message_attributes={"k": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02"}},
    )
    assert message.size_bytes() == 2 + 1 + len("Binary") + 3


def test_fifo_entry_keeps_ids_and_derives_a_stable_dedup_id() -> None:
    kept = _msg(1, MessageGroupId="g", MessageDeduplicationId="orig")
    entry = kept.send_entry("m0", fifo=True)
    assert entry["MessageGroupId"] == "g"
    # Never the original id: a FIFO queue that saw the original within 5 minutes would drop the re-send.
    assert entry["MessageDeduplicationId"] != "orig"
    assert entry["MessageDeduplicationId"] == kept.send_entry("m3", fifo=True)["MessageDeduplicationId"]
    # Two DLQ messages with the same original id (the same send dead-lettered twice) get distinct ids.
    again = _msg(9, MessageGroupId="g", MessageDeduplicationId="orig")
    assert again.send_entry("m0", fifo=True)["MessageDeduplicationId"] != entry["MessageDeduplicationId"]
    derived = _msg(2, MessageGroupId="g")
    first = derived.send_entry("m0", fifo=True)["MessageDeduplicationId"]
    assert first == derived.send_entry("m5", fifo=True)["MessageDeduplicationId"]  # stable across re-sends
    assert first != _msg(3, MessageGroupId="g").send_entry("m0", fifo=True)["MessageDeduplicationId"]
    assert len(first) <= 128
    with pytest.raises(ValidationFailed, match="MessageGroupId"):
        _msg(4).send_entry("m0", fifo=True)
    assert "MessageDeduplicationId" not in _msg(5).send_entry("m0", fifo=False)


def test_archive_record_round_trip_keeps_binary_attributes(tmp_path: Path) -> None:
    message = QueueMessage(
        message_id="m1",
        body='{"a": 1}',
        message_attributes={
            "bin": {"DataType": "Binary", "BinaryValue": b"\xff\x00"},
            "s": {"DataType": "String", "StringValue": "v"},
        },
        attributes={"MessageGroupId": "g"},
    )
    record = message.to_record(queue_arn="arn:aws:sqs:us-east-1:1:q.fifo", action="purge")
    path = tmp_path / "a.jsonl"
    # A torn last line (crash mid-write) is ignored; the complete record survives.
    path.write_text(json.dumps(record) + "\n" + '{"v": 1, "message_id": "m2", "bo')
    (item,) = list(read_archive(path))
    assert item.message.message_attributes == message.message_attributes
    assert item.message.group_id == "g"
    assert item.queue_arn == "arn:aws:sqs:us-east-1:1:q.fifo"


def test_archive_rejects_a_malformed_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"message_id": "a", "body": "b"}\nnot json\n{"message_id": "c", "body": "d"}\n')
    with pytest.raises(ValidationFailed, match=r"bad\.jsonl:2"):
        list(read_archive(path))


def test_router_prefers_to_then_source_arn_then_single_source() -> None:
    dlq, a, b, c = _queue("dlq"), _queue("a"), _queue("b"), _queue("c")
    resolved: list[str] = []

    def resolve(arn: str) -> QueueRef | None:
        resolved.append(arn)
        return c if arn == c.arn else None

    several = Router(dlq, None, [a, b], resolve)
    assert several.route(_msg(1, DeadLetterQueueSourceArn=b.arn)) is b
    assert several.route(_msg(2, DeadLetterQueueSourceArn=c.arn)) is c  # a source no longer in the policy
    assert several.route(_msg(3, DeadLetterQueueSourceArn="arn:aws:sqs:us-east-1:1:gone")) is None
    assert several.route(_msg(4)) is None  # several sources, no attribute: needs --to
    assert Router(dlq, None, [a], resolve).route(_msg(5)) is a
    assert Router(dlq, b, [a], resolve).route(_msg(6, DeadLetterQueueSourceArn=a.arn)) is b
    assert resolved == [c.arn, "arn:aws:sqs:us-east-1:1:gone"]


def test_filter_expressions() -> None:
    message = QueueMessage(
        message_id="m",
        body='{"kind": "thumb", "size": 3}',
        message_attributes={"tenant": {"DataType": "String", "StringValue": "acme"}},
    )
    assert matches(compile_filter("body.kind == 'thumb'"), message)
    assert matches(compile_filter("message_attributes.tenant == 'acme'"), message)
    assert not matches(compile_filter("body.size > `5`"), message)
    assert not matches(compile_filter("body.missing"), message)
    assert matches(compile_filter("contains(raw_body, 'thumb')"), message)
    with pytest.raises(UsageError, match="JMESPath"):
        compile_filter("body.[")


def test_fifo_standard_mismatch_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="FIFO queue but std is a standard queue"):
        check_same_kind(_queue("d.fifo", fifo=True), _queue("std"))
    check_same_kind(_queue("d.fifo", fifo=True), _queue("s.fifo", fifo=True))


def test_native_path_decision() -> None:
    base = {
        "native": True,
        "is_local": False,
        "has_filter": False,
        "has_max": False,
        "has_archive": False,
        "to_elsewhere": False,
        "sqs_sources": 1,
    }
    assert native_unavailable_reason(**base) is None  # type: ignore[arg-type]
    for key, value in [
        ("native", False),
        ("is_local", True),
        ("has_filter", True),
        ("has_max", True),
        ("has_archive", True),
        ("to_elsewhere", True),
        ("sqs_sources", 0),
    ]:
        assert native_unavailable_reason(**{**base, key: value}) is not None, key  # type: ignore[arg-type]
    assert validate_native_rate(None) is None
    assert validate_native_rate(500) == 500
    with pytest.raises(UsageError):
        validate_native_rate(501)
    with pytest.raises(UsageError):
        validate_native_rate(2.5)


def test_archive_writer_cuts_a_torn_tail_before_appending(tmp_path: Path) -> None:
    from picops.core.dlq.archive import ArchiveWriter

    path = tmp_path / "a.jsonl"
    good = QueueMessage(message_id="m1", body="one").to_record(
        queue_arn="arn:aws:sqs:r:1:q", action="redrive"
    )
    path.write_text(json.dumps(good) + "\n" + '{"v": 1, "message_id": "torn", "bo')
    with ArchiveWriter(path) as writer:
        writer.append(
            [
                QueueMessage(message_id="m2", body="two").to_record(
                    queue_arn="arn:aws:sqs:r:1:q", action="redrive"
                )
            ]
        )
    assert [a.message.message_id for a in read_archive(path)] == ["m1", "m2"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=400_000), max_size=40))
def test_packing_invariants(sizes: list[int]) -> None:
    messages = [QueueMessage(message_id=f"m{i}", body="b" * size) for i, size in enumerate(sizes)]
    batches = pack_batches(messages)
    assert [m for b in batches for m in b] == messages  # nothing lost, order kept
    for batch in batches:
        assert 1 <= len(batch) <= 10
        assert sum(m.size_bytes() for m in batch) <= MAX_BATCH_BYTES
