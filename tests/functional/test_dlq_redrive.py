"""The manual redrive path on in-process moto: standard and FIFO, filters, rate, failures, loop guard."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from picops.core.dlq.archive import read_archive
from picops.core.dlq.messages import REDRIVE_DEDUP_PREFIX
from picops.core.dlq.queues import resolve_queue, source_queues
from picops.core.dlq.redrive import ManualRedrive, RedriveOptions, RedriveStats, Router
from picops.core.dlq.redrive_plan import arn_resolver
from tests.dlq_support import counts, drain, fast_moto_clock, fill, make_pair, seqs

__all__ = ["fast_moto_clock"]

FAST = {"wait_seconds": 0, "empty_polls": 2}


def _redrive(sqs: Any, dlq_name: str, **options: Any) -> RedriveStats:
    dlq = resolve_queue(sqs, dlq_name)
    router = Router(dlq, None, source_queues(sqs, dlq), arn_resolver(sqs))
    return ManualRedrive(sqs, dlq, router, RedriveOptions(**{**FAST, **options})).run()


def test_standard_redrive_keeps_body_and_attributes(aws: Any, fast_moto_clock: None, tmp_path: Path) -> None:
    sqs = aws.client("sqs")
    src, _src_arn, dlq, _dlq_arn = make_pair(sqs, "std")
    fill(sqs, dlq, 45)
    archive = tmp_path / "a.jsonl"

    stats = _redrive(sqs, "std-dlq", archive=archive)

    assert (stats.moved, stats.failed, stats.skipped, stats.stopped) == (45, 0, 0, "empty")
    assert counts(sqs, dlq) == (0, 0)
    moved = drain(sqs, src)
    assert sorted(seqs(moved)) == list(range(45))
    for message in moved:
        seq = json.loads(message.body)["seq"]
        assert message.message_attributes["seq"] == {"DataType": "Number", "StringValue": str(seq)}
        assert message.message_attributes["tenant"]["StringValue"] == f"t{seq % 3}"
        assert message.message_attributes["blob"]["BinaryValue"] == seq.to_bytes(4, "big")
    # The archive holds every moved message, attributes included, before it left the DLQ.
    archived = list(read_archive(archive))
    assert sorted(seqs([a.message for a in archived])) == list(range(45))
    assert archived[0].message.message_attributes["blob"]["BinaryValue"] == json.loads(
        archived[0].message.body
    )["seq"].to_bytes(4, "big")
    # Requests per message: one receive, one send and one delete per 10, plus the emptiness checks.
    assert stats.requests <= 45 * 0.35 + 4


@pytest.mark.slow
def test_fifo_thousand_messages_keep_group_order_and_ids(aws: Any, fast_moto_clock: None) -> None:
    sqs = aws.client("sqs")
    src, _src_arn, dlq, _dlq_arn = make_pair(sqs, "orders", fifo=True)
    fill(sqs, dlq, 1000, fifo=True, groups=7)

    stats = _redrive(sqs, "orders-dlq.fifo")

    assert (stats.moved, stats.failed) == (1000, 0)
    assert counts(sqs, dlq) == (0, 0)
    moved = drain(sqs, src)
    assert len(moved) == 1000
    by_group: dict[str, list[int]] = defaultdict(list)
    for message in moved:
        body = json.loads(message.body)
        assert message.group_id == body["group"]
        # A fresh id derived from the DLQ message, never the original (which SQS would dedupe).
        assert message.dedup_id is not None
        assert message.dedup_id.startswith(REDRIVE_DEDUP_PREFIX)
        assert message.message_attributes["seq"]["StringValue"] == str(body["seq"])
        by_group[message.group_id].append(body["seq"])
    assert len(by_group) == 7
    for group, order in by_group.items():
        assert order == sorted(order), f"group {group} out of order"


def test_filter_misses_stay_unchanged_and_are_received_once(aws: Any, fast_moto_clock: None) -> None:
    sqs = aws.client("sqs")
    src, _src_arn, dlq, _dlq_arn = make_pair(sqs, "flt")
    fill(sqs, dlq, 30)

    stats = _redrive(sqs, "flt-dlq", filter_expression="body.kind == 'even'")

    assert (stats.moved, stats.skipped) == (15, 15)
    assert sorted(seqs(drain(sqs, src))) == list(range(0, 30, 2))
    # Misses are visible again at once, with their attributes, and were received exactly once by the run.
    assert counts(sqs, dlq) == (15, 0)
    left = drain(sqs, dlq)
    assert sorted(seqs(left)) == list(range(1, 30, 2))
    assert {m.receive_count for m in left} == {2}  # one receive by the run, one by drain()
    assert all("blob" in m.message_attributes for m in left)


def test_filter_on_message_attributes(aws: Any, fast_moto_clock: None) -> None:
    sqs = aws.client("sqs")
    src, _src_arn, dlq, _dlq_arn = make_pair(sqs, "fla")
    fill(sqs, dlq, 12)
    stats = _redrive(sqs, "fla-dlq", filter_expression="message_attributes.tenant == 't1'")
    assert stats.moved == 4
    assert sorted(seqs(drain(sqs, src))) == [1, 4, 7, 10]


def test_fifo_filter_keeps_group_order_by_holding_the_rest_of_a_group(
    aws: Any, fast_moto_clock: None
) -> None:
    sqs = aws.client("sqs")
    src, _src_arn, dlq, _dlq_arn = make_pair(sqs, "ff", fifo=True)
    fill(sqs, dlq, 20, fifo=True, groups=2)  # g0: even seqs, g1: odd seqs
    # Skip seq 4 (group g0): everything after it in g0 must stay behind it.
    stats = _redrive(sqs, "ff-dlq.fifo", filter_expression="body.seq != `4`")
    moved = seqs(drain(sqs, src))
    assert [s for s in moved if s % 2 == 0] == [0, 2]
    assert sorted(s for s in moved if s % 2 == 1) == list(range(1, 20, 2))
    assert stats.skipped == 1
    assert stats.moved == len(moved) == 12
    assert stats.held_back + stats.skipped + stats.moved <= 20
    assert sorted(seqs(drain(sqs, dlq))) == list(range(4, 20, 2))


def test_max_stops_after_n(aws: Any, fast_moto_clock: None) -> None:
    sqs = aws.client("sqs")
    src, _src_arn, dlq, _dlq_arn = make_pair(sqs, "mx")
    fill(sqs, dlq, 25)
    stats = _redrive(sqs, "mx-dlq", max_messages=13)
    assert (stats.moved, stats.stopped) == (13, "max")
    assert counts(sqs, dlq) == (12, 0)
    assert len(drain(sqs, src)) == 13


def test_rate_is_honoured(aws: Any, fast_moto_clock: None) -> None:
    """On a virtual clock that only the redrive's own sleeps advance: deterministic on a loaded machine."""
    sqs = aws.client("sqs")
    src, _src_arn, dlq, _dlq_arn = make_pair(sqs, "rt")
    fill(sqs, dlq, 30)
    now = [0.0]
    sends: list[tuple[float, int]] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    def record(params: dict[str, Any], **_: Any) -> None:
        sends.append((now[0], len(params["Entries"])))

    sqs.meta.events.register("provide-client-params.sqs.SendMessageBatch", record)
    try:
        dlq_ref = resolve_queue(sqs, "rt-dlq")
        router = Router(dlq_ref, None, source_queues(sqs, dlq_ref), arn_resolver(sqs))
        stats = ManualRedrive(
            sqs, dlq_ref, router, RedriveOptions(**FAST, rate=20), sleep=sleep, clock=lambda: now[0]
        ).run()
    finally:
        sqs.meta.events.unregister("provide-client-params.sqs.SendMessageBatch", record)
    assert stats.moved == 30
    # 30 messages at 20/s: batches of 10; the n-th message leaves no earlier than (n - 10) / 20 s after the
    # start (the first batch goes at once), so the last batch at 1 s.
    sent = 0
    for at, size in sends:
        assert at >= sent / 20, sends
        sent += size
    assert sent == 30
    assert sends[-1][0] >= 1.0
    assert len(drain(sqs, src)) == 30


def _wait_visible(sqs: Any, url: str, visible: int, *, timeout_s: float = 30.0) -> None:
    """Wait for an observable state (messages visible again after their visibility timeout), not a clock."""
    deadline = time.monotonic() + timeout_s
    while counts(sqs, url)[0] < visible:
        if time.monotonic() > deadline:
            pytest.fail(
                f"{url}: fewer than {visible} messages visible after {timeout_s} s: {counts(sqs, url)}"
            )
        time.sleep(0.05)


def test_dry_run_moves_nothing(aws: Any, fast_moto_clock: None) -> None:
    sqs = aws.client("sqs")
    src, _src_arn, dlq, _dlq_arn = make_pair(sqs, "dr")
    fill(sqs, dlq, 14)
    stats = _redrive(sqs, "dr-dlq", dry_run=True)
    assert (stats.moved, stats.would_move) == (0, 14)
    filtered = _redrive(sqs, "dr-dlq", dry_run=True, filter_expression="body.kind == 'odd'")
    assert (filtered.moved, filtered.would_move, filtered.skipped) == (0, 7, 7)
    assert counts(sqs, dlq) == (14, 0)
    assert counts(sqs, src) == (0, 0)


def test_failure_between_send_and_delete_then_rerun_loses_nothing(aws: Any, fast_moto_clock: None) -> None:
    sqs = aws.client("sqs")
    src, _src_arn, dlq, _dlq_arn = make_pair(sqs, "crash")
    fill(sqs, dlq, 40)
    deletes = {"n": 0}

    def fail_third_delete(**_kwargs: Any) -> None:
        deletes["n"] += 1
        if deletes["n"] == 3:
            raise ConnectionResetError("injected: connection lost before DeleteMessageBatch")

    sqs.meta.events.register("before-call.sqs.DeleteMessageBatch", fail_third_delete)
    try:
        with pytest.raises(ConnectionResetError):
            _redrive(sqs, "crash-dlq", visibility_timeout=1)
    finally:
        sqs.meta.events.unregister("before-call.sqs.DeleteMessageBatch", fail_third_delete)
    # The batch whose delete failed is in both queues: after its visibility timeout it is redriven again.
    _wait_visible(sqs, dlq, 40 - 20)
    stats = _redrive(sqs, "crash-dlq")
    assert stats.failed == 0
    assert counts(sqs, dlq) == (0, 0)
    delivered = seqs(drain(sqs, src))
    assert set(delivered) == set(range(40))  # nothing lost
    assert len(delivered) - 40 <= 10  # at most one batch duplicated


def test_loop_guard_stops_when_the_dlq_refills_faster_than_it_drains(aws: Any, fast_moto_clock: None) -> None:
    sqs = aws.client("sqs")
    src, _src_arn, dlq, _dlq_arn = make_pair(sqs, "loop")
    fill(sqs, dlq, 30)
    stop = threading.Event()

    def refill() -> None:  # a consumer that keeps failing: messages come back faster than they leave
        seq = 1000
        while not stop.is_set():
            fill(sqs, dlq, 10, start=seq)
            seq += 10
            time.sleep(0.2)

    pump = threading.Thread(target=refill, daemon=True)
    pump.start()
    try:
        stats = _redrive(sqs, "loop-dlq", rate=20, loop_guard_window_s=0.5)
    finally:
        stop.set()
        pump.join()
    assert stats.stopped == "loop_guard"
    assert stats.moved > 0
    assert counts(sqs, src)[0] == stats.moved


def test_several_sources_route_by_source_arn_or_leave_unroutable(aws: Any, fast_moto_clock: None) -> None:
    sqs = aws.client("sqs")
    a_url, _a_arn, dlq, dlq_arn = make_pair(sqs, "multi")
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
    b_url = sqs.create_queue(QueueName="multi-b", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    fill(sqs, dlq, 5)
    # moto does not set DeadLetterQueueSourceArn, so these messages say nothing about their source.
    stats = _redrive(sqs, "multi-dlq")
    assert (stats.moved, stats.unroutable) == (0, 5)
    assert counts(sqs, dlq) == (5, 0)
    # --to resolves it.
    dlq_ref = resolve_queue(sqs, "multi-dlq")
    to = resolve_queue(sqs, "multi-b")
    router = Router(dlq_ref, to, source_queues(sqs, dlq_ref), arn_resolver(sqs))
    moved = ManualRedrive(sqs, dlq_ref, router, RedriveOptions(**FAST)).run()
    assert moved.moved == 5
    assert counts(sqs, b_url)[0] == 5
    assert counts(sqs, a_url)[0] == 0


def test_one_oversized_message_does_not_block_the_rest(aws: Any, fast_moto_clock: None) -> None:
    sqs = aws.client("sqs")
    _src, _src_arn, dlq, _dlq_arn = make_pair(sqs, "big")
    small = sqs.create_queue(QueueName="small", Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
    fill(sqs, dlq, 9)
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"seq": 99, "pad": "x" * 2000}))
    dlq_ref = resolve_queue(sqs, "big-dlq")
    router = Router(dlq_ref, resolve_queue(sqs, "small"), source_queues(sqs, dlq_ref), arn_resolver(sqs))
    stats = ManualRedrive(sqs, dlq_ref, router, RedriveOptions(**FAST)).run()
    assert (stats.moved, stats.failed) == (9, 1)
    assert stats.errors[0]["code"] == "InvalidParameterValue"
    assert sorted(seqs(drain(sqs, small))) == list(range(9))
    # The message SQS refused is still in the DLQ, visible again.
    assert seqs(drain(sqs, dlq)) == [99]


def test_cli_against_in_process_moto_falls_back_to_manual(aws: Any, cli: Any, fast_moto_clock: None) -> None:
    """No endpoint: the CLI targets "AWS" (moto's in-process mock), tries the move task, and falls back."""
    sqs = aws.client("sqs")
    src, _src_arn, dlq, _dlq_arn = make_pair(sqs, "picops-ingest")
    fill(sqs, dlq, 3)
    result = cli("dlq", "redrive", "IngestDLQ", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["mode"] == "manual"
    assert "no message move task API" in result.stderr
    assert sorted(seqs(drain(sqs, src))) == [0, 1, 2]


def test_fifo_resend_after_a_crash_is_absorbed_by_the_dedup_id(aws: Any, fast_moto_clock: None) -> None:
    sqs = aws.client("sqs")
    src, _src_arn, dlq, _dlq_arn = make_pair(sqs, "fcrash", fifo=True)
    fill(sqs, dlq, 30, fifo=True, groups=3)
    # Ten more get the content-based deduplication id SQS computes; either kind is re-sent unchanged.
    sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"ContentBasedDeduplication": "true"})
    for seq in range(30, 40):
        sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"seq": seq}), MessageGroupId=f"g{seq % 3}")

    def lose_the_connection(**_kwargs: Any) -> None:
        raise ConnectionResetError("injected: killed between SendMessageBatch and DeleteMessageBatch")

    sqs.meta.events.register("before-call.sqs.DeleteMessageBatch", lose_the_connection)
    try:
        with pytest.raises(ConnectionResetError):
            _redrive(sqs, "fcrash-dlq.fifo", visibility_timeout=1)
    finally:
        sqs.meta.events.unregister("before-call.sqs.DeleteMessageBatch", lose_the_connection)
    _wait_visible(sqs, dlq, 40)
    stats = _redrive(sqs, "fcrash-dlq.fifo")
    assert stats.failed == 0
    assert counts(sqs, dlq) == (0, 0)
    delivered = seqs(drain(sqs, src))
    # The batch sent twice was deduplicated by the destination: exactly one copy of each message.
    assert sorted(delivered) == list(range(40))


def test_fifo_redrive_to_a_queue_that_just_saw_the_original_is_delivered(
    aws: Any, fast_moto_clock: None
) -> None:
    """`--to` a FIFO queue that received the original moments ago (the producer fanned it out there too):
    re-sent with the original MessageDeduplicationId, SQS (and moto) accepts it as a duplicate, answers
    Successful and drops it, and the DLQ copy is then deleted: the message would be lost."""
    sqs = aws.client("sqs")
    _src, _src_arn, dlq, _dlq_arn = make_pair(sqs, "fwin", fifo=True)
    other = sqs.create_queue(QueueName="fwin-other.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    for url in (other, dlq):
        sqs.send_message(
            QueueUrl=url, MessageBody=json.dumps({"seq": 7}), MessageGroupId="g", MessageDeduplicationId="o7"
        )
    dlq_ref = resolve_queue(sqs, "fwin-dlq.fifo")
    router = Router(dlq_ref, resolve_queue(sqs, "fwin-other.fifo"), [], arn_resolver(sqs))

    stats = ManualRedrive(sqs, dlq_ref, router, RedriveOptions(**FAST)).run()

    assert (stats.moved, stats.failed) == (1, 0)
    assert counts(sqs, dlq) == (0, 0)
    delivered = drain(sqs, other)
    assert seqs(delivered) == [7, 7]  # the fan-out copy and the redriven one: nothing dropped
    assert {m.dedup_id for m in delivered} == {"o7", delivered[1].dedup_id}
    assert delivered[1].dedup_id != "o7"
