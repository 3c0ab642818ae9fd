"""The tag ledger in JobsTable: written by every tagger, trusted only on an exact match, never a cause of
a wrong tag (failed writes, a missing table, hand-edited tags), and resumable across the change."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from picops.core.tagging import (
    BackfillJob,
    BackfillRun,
    EngineOptions,
    RequestCounter,
    run_backfill,
    run_sweep,
)
from picops.core.tagging.checkpoint import STATE_VERSION
from picops.core.tagging.ledger import in_verify_slice, ledger_pk, verify_slices
from picops.core.tagging.verdicts import VerdictLookup
from picops.handlers import _env
from picops.stack.names import StackNames
from tests import tagging_support as ts
from tests.conftest import load_event

STATUSES = ("approved", "flagged", "rejected")
KEYS = [f"incoming/l{i:03d} {'+' if i % 2 else 'ü'}.jpg" for i in range(40)]
# 30 with a verdict, 10 pending.
VERDICTS = {k: STATUSES[i % 3] for i, k in enumerate(KEYS) if i % 4 != 3}


def _job(stack: StackNames, **extra: Any) -> BackfillJob:
    base: dict[str, Any] = {
        "table": stack.moderation_table,
        "key_attribute": "object_key",
        "status_attribute": "status",
        "tag_key": ts.TAG_KEY,
        "statuses": STATUSES,
        "bucket": stack.uploads_bucket,
        "prefix": "incoming/",
        "ledger_table": stack.jobs_table,
    }
    base.update(extra)
    return BackfillJob(**base)


def _arrange(aws: Any, **stack_options: Any) -> StackNames:
    stack = ts.create_stack(aws, **stack_options)
    ts.put_objects(aws, stack.uploads_bucket, KEYS, {KEYS[0]: {"owner": "ana"}})
    ts.put_verdicts(aws, stack.moderation_table, VERDICTS)
    return stack


def _expected_tags(verdicts: dict[str, str] = VERDICTS) -> dict[str, dict[str, str]]:
    return {
        k: {
            **({"owner": "ana"} if k == KEYS[0] else {}),
            **({ts.TAG_KEY: verdicts[k]} if k in verdicts else {}),
        }
        for k in KEYS
    }


def _head(aws: Any, bucket: str, key: str) -> tuple[str, str]:
    head = aws.client("s3").head_object(Bucket=bucket, Key=key)
    modified = head["LastModified"].strftime("%Y-%m-%dT%H:%M:%S.") + "000Z"
    return head["ETag"].strip('"'), modified


def test_backfill_writes_entries_and_the_second_pass_makes_no_s3_request(aws: Any) -> None:
    stack = _arrange(aws)
    first = run_backfill(aws, _job(stack), BackfillRun(concurrency=4))
    assert (first.counts.tagged, first.counts.pending, first.counts.skipped_by_ledger) == (30, 10, 0)
    items = ts.ledger_items(aws, stack.jobs_table)
    # One entry per object that carries its verdict, in the layout the ingest pipeline's items leave alone.
    assert set(items) == {f"LEDGER#{stack.uploads_bucket}/{k}" for k in VERDICTS}
    some = items[ledger_pk(stack.uploads_bucket, KEYS[0])]
    etag, modified = _head(aws, stack.uploads_bucket, KEYS[0])
    assert some["sk"] == "TAG"
    assert (some["verdict"], some["tag_key"], some["etag"], some["last_modified"]) == (
        VERDICTS[KEYS[0]],
        ts.TAG_KEY,
        etag,
        modified,
    )
    assert some["writer"] == "tag-backfill"
    assert first.ledger is not None
    assert first.ledger["written"] == 30

    second = run_backfill(aws, _job(stack), BackfillRun(concurrency=4))
    assert second.counts.as_dict() == {
        "scanned": 40,
        "tagged": 0,
        "unchanged": 30,
        "pending": 10,
        "missing": 0,
        "failed": 0,
        "skipped_by_ledger": 30,
    }
    assert second.requests.get("GetObjectTagging", 0) == 0
    assert second.requests.get("PutObjectTagging", 0) == 0
    # Skips are not rewritten: the steady state costs the listing and the lookups only.
    assert second.requests.get("BatchWriteItem", 0) == 0
    assert second.as_json()["skipped_by_ledger"] == 30
    assert ts.all_tags(aws, stack.uploads_bucket, "incoming/") == _expected_tags()


def test_a_skip_needs_verdict_tag_key_and_both_halves_of_the_identity_to_match(aws: Any) -> None:
    stack = _arrange(aws)
    run_backfill(aws, _job(stack), BackfillRun(concurrency=4))
    ddb = aws.client("dynamodb")
    new_bytes, changed, missing, same_etag, other_key = KEYS[0], KEYS[1], KEYS[2], KEYS[4], KEYS[5]
    # A new version (different bytes: new ETag and LastModified), untagged.
    aws.client("s3").put_object(Bucket=stack.uploads_bucket, Key=new_bytes, Body=b"new bytes")
    # A changed verdict.
    ts.put_verdicts(
        aws, stack.moderation_table, {changed: "rejected" if VERDICTS[changed] != "rejected" else "approved"}
    )
    # A missing entry.
    ddb.delete_item(
        TableName=stack.jobs_table,
        Key={"pk": {"S": ledger_pk(stack.uploads_bucket, missing)}, "sk": {"S": "TAG"}},
    )
    # Same ETag, other LastModified (what a re-upload of the same bytes looks like), and an entry recorded
    # under another tag key: neither may be trusted.
    for key, field, value in (
        (same_etag, "last_modified", "2001-01-01T00:00:00.000Z"),
        (other_key, "tag_key", "old-tag"),
    ):
        ddb.update_item(
            TableName=stack.jobs_table,
            Key={"pk": {"S": ledger_pk(stack.uploads_bucket, key)}, "sk": {"S": "TAG"}},
            UpdateExpression="SET #f = :v",
            ExpressionAttributeNames={"#f": field},
            ExpressionAttributeValues={":v": {"S": value}},
        )
    # Break the tags of the last two behind the ledger's back, so only real work can make them right.
    s3 = aws.client("s3")
    for key in (same_etag, other_key, missing):
        s3.delete_object_tagging(Bucket=stack.uploads_bucket, Key=key)

    second = run_backfill(aws, _job(stack), BackfillRun(concurrency=4))
    assert second.requests["GetObjectTagging"] == 5
    assert second.counts.tagged == 5
    assert second.counts.skipped_by_ledger == 25
    verdicts = dict(VERDICTS)
    verdicts[changed] = "rejected" if VERDICTS[changed] != "rejected" else "approved"
    expected = _expected_tags(verdicts)
    expected[new_bytes] = {ts.TAG_KEY: VERDICTS[new_bytes]}  # the new version has no owner tag
    assert ts.all_tags(aws, stack.uploads_bucket, "incoming/") == expected
    # ...and the ledger now vouches for what it saw: a third pass makes no S3 request.
    third = run_backfill(aws, _job(stack), BackfillRun(concurrency=4))
    assert third.requests.get("GetObjectTagging", 0) == 0
    entry = ts.ledger_items(aws, stack.jobs_table)[ledger_pk(stack.uploads_bucket, new_bytes)]
    assert entry["etag"] == _head(aws, stack.uploads_bucket, new_bytes)[0]


def test_verify_ignores_the_ledger_and_repairs_a_tag_deleted_by_hand(aws: Any) -> None:
    stack = _arrange(aws)
    run_backfill(aws, _job(stack), BackfillRun(concurrency=4))
    victim = KEYS[0]
    aws.client("s3").put_object_tagging(
        Bucket=stack.uploads_bucket, Key=victim, Tagging={"TagSet": [{"Key": "owner", "Value": "ana"}]}
    )
    # The ledger cannot see a hand edit: a plain pass trusts it.
    trusting = run_backfill(aws, _job(stack), BackfillRun(concurrency=4))
    assert trusting.counts.skipped_by_ledger == 30
    assert ts.tags_of(aws, stack.uploads_bucket, victim) == {"owner": "ana"}
    verified = run_backfill(aws, _job(stack), BackfillRun(concurrency=4, verify=True))
    assert verified.counts.skipped_by_ledger == 0
    assert verified.requests["GetObjectTagging"] == 30
    assert (verified.counts.tagged, verified.counts.unchanged) == (1, 29)
    assert verified.ledger is not None
    assert verified.ledger["verify"] is True
    assert ts.all_tags(aws, stack.uploads_bucket, "incoming/") == _expected_tags()


def _sweep(aws: Any, stack: StackNames, *, fraction: float, warnings: list[str] | None = None) -> Any:
    return run_sweep(
        aws.client("s3"),
        aws.client("dynamodb"),
        bucket=stack.uploads_bucket,
        prefix="incoming/",
        table=stack.moderation_table,
        options=EngineOptions(ts.TAG_KEY, STATUSES, concurrency=4),
        key_attribute="object_key",
        status_attribute="status",
        remaining_ms=lambda: 900_000,
        margin_s=15,
        ledger_table=stack.jobs_table,
        verify_fraction=fraction,
        on_warning=(warnings.append if warnings is not None else None),
    )


def test_the_sweepers_rotating_slice_repairs_a_hand_deleted_tag_within_its_cycles(aws: Any) -> None:
    stack = _arrange(aws)
    slices = verify_slices(0.25)
    assert slices == 4
    first = _sweep(aws, stack, fraction=0.25)
    assert first.counts.tagged == 30
    assert first.ledger.written == 30
    victim = KEYS[0]
    aws.client("s3").put_object_tagging(
        Bucket=stack.uploads_bucket, Key=victim, Tagging={"TagSet": [{"Key": "owner", "Value": "ana"}]}
    )
    repaired_in = None
    s3 = aws.client("s3")
    for run in range(slices):
        cycle = first.cycle + run  # the cycle this sweep works on
        with RequestCounter().attach(s3) as counter:
            result = _sweep(aws, stack, fraction=0.25)
        in_slice = [
            k for k in VERDICTS if in_verify_slice(stack.uploads_bucket, k, cycle=cycle, slices=slices)
        ]
        # Exactly the slice is read on S3; the rest is skipped on the ledger's word.
        assert result.counts.skipped_by_ledger == 30 - len(in_slice)
        assert counter.snapshot().get("GetObjectTagging", 0) == len(in_slice)
        assert result.verify_slice == f"{cycle % slices + 1}/{slices}"
        if victim in in_slice:
            assert result.counts.tagged == 1
            repaired_in = run
            break
        assert result.counts.tagged == 0
        assert ts.tags_of(aws, stack.uploads_bucket, victim) == {"owner": "ana"}
    assert repaired_in is not None, "the victim's slice never came round"
    assert ts.all_tags(aws, stack.uploads_bucket, "incoming/") == _expected_tags()


def test_slices_partition_the_keys_and_consecutive_cycles_cover_them_all() -> None:
    keys = [f"k{i}" for i in range(500)]
    for slices in (1, 3, 24):
        seen: dict[str, int] = {}
        for cycle in range(7, 7 + slices):
            for key in keys:
                if in_verify_slice("b", key, cycle=cycle, slices=slices):
                    seen[key] = seen.get(key, 0) + 1
        assert seen == dict.fromkeys(keys, 1)
    assert verify_slices(1 / 24) == 24
    assert verify_slices(1.0) == 1
    assert verify_slices(0) == 0
    assert not any(in_verify_slice("b", k, cycle=0, slices=0) for k in keys)


class _Refuse:
    """A botocore hook that fails one DynamoDB operation on JobsTable (before it is sent)."""

    def __init__(self, operation: str, table: str, code: str = "ProvisionedThroughputExceededException"):
        self.operation, self.table, self.code, self.calls = operation, table, code, 0

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        if self.table in params.get("RequestItems", {}):
            self.calls += 1
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": self.code, "Message": "refused by the test"}}, self.operation
            )


@pytest.mark.parametrize("operation", ["BatchWriteItem", "BatchGetItem"])
def test_a_failing_ledger_leaves_every_tag_right(aws: Any, operation: str) -> None:
    stack = _arrange(aws)
    if operation == "BatchGetItem":
        run_backfill(aws, _job(stack), BackfillRun(concurrency=4))  # entries exist, but cannot be read
    refuse = _Refuse(operation, stack.jobs_table)
    ddb = aws.client("dynamodb", concurrency=4)  # the client the backfill will use
    ddb.meta.events.register(f"before-parameter-build.dynamodb.{operation}", refuse, unique_id="refuse")
    warnings: list[str] = []
    try:
        summary = run_backfill(aws, _job(stack), BackfillRun(concurrency=4, on_warning=warnings.append))
    finally:
        ddb.meta.events.unregister(f"before-parameter-build.dynamodb.{operation}", unique_id="refuse")
    assert refuse.calls > 0
    assert summary.counts.failed == 0
    assert summary.counts.skipped_by_ledger == 0
    assert summary.counts.tagged + summary.counts.unchanged == 30
    assert summary.ledger is not None
    if operation == "BatchWriteItem":
        assert summary.ledger["write_failures"] == 30
        assert summary.ledger["written"] == 0
        assert ts.ledger_items(aws, stack.jobs_table) == {}
    else:
        assert summary.ledger["lookup_errors"] > 0
    assert warnings
    assert all("JobsTable" in w or stack.jobs_table in w for w in warnings)
    assert ts.all_tags(aws, stack.uploads_bucket, "incoming/") == _expected_tags()
    # The next pass simply does the work (and records it).
    again = run_backfill(aws, _job(stack), BackfillRun(concurrency=4))
    assert again.counts.failed == 0
    assert ts.all_tags(aws, stack.uploads_bucket, "incoming/") == _expected_tags()


def test_without_jobs_table_the_ledger_turns_off_with_one_warning(aws: Any) -> None:
    stack = _arrange(aws, jobs_table=False)
    warnings: list[str] = []
    summary = run_backfill(aws, _job(stack), BackfillRun(concurrency=4, on_warning=warnings.append))
    assert summary.counts.tagged == 30
    assert summary.counts.failed == 0
    assert len(warnings) == 1, warnings
    assert "ResourceNotFoundException" in warnings[0]
    # Turned off after the first refusal: not one failed request per chunk (1 verdict + 1 ledger lookup).
    assert summary.requests.get("BatchWriteItem", 0) == 0
    assert summary.requests["BatchGetItem"] == 2
    assert ts.all_tags(aws, stack.uploads_bucket, "incoming/") == _expected_tags()


def test_an_inventory_with_etag_and_last_modified_uses_the_entries_a_listing_wrote(aws: Any) -> None:
    stack = _arrange(aws)
    run_backfill(aws, _job(stack), BackfillRun(concurrency=4))
    schema = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag"
    rows = []
    for key in KEYS:
        etag, modified = _head(aws, stack.uploads_bucket, key)
        rows.append((stack.uploads_bucket, key, "", True, False, modified, etag))
    url = ts.put_inventory(aws, stack.processed_bucket, stack.uploads_bucket, [_csv(rows)], schema=schema)
    by_inventory = run_backfill(
        aws, _job(stack, bucket=None, prefix="", inventory=url), BackfillRun(concurrency=4)
    )
    assert by_inventory.counts.skipped_by_ledger == 30
    assert by_inventory.requests.get("GetObjectTagging", 0) == 0
    # The stock schema (no ETag column) cannot vouch for identity: every object is read.
    plain = ts.put_inventory(
        aws,
        stack.processed_bucket,
        stack.uploads_bucket,
        [ts.csv_gz((stack.uploads_bucket, k, "", True, False) for k in KEYS)],
        prefix="inventory/uploads/2026-11-02T00-00Z/",
    )
    read_all = run_backfill(
        aws, _job(stack, bucket=None, prefix="", inventory=plain), BackfillRun(concurrency=4)
    )
    assert read_all.counts.skipped_by_ledger == 0
    assert read_all.requests["GetObjectTagging"] == 30


def _csv(rows: list[tuple[str, str, str, bool, bool, str, str]]) -> bytes:
    import gzip
    from urllib.parse import quote_plus

    lines = []
    for bucket, key, version, latest, marker, modified, etag in rows:
        fields = [
            bucket,
            quote_plus(key, safe="/"),
            version,
            str(latest).lower(),
            str(marker).lower(),
            "1",
            modified,
            etag,
        ]
        lines.append(",".join(f'"{f}"' for f in fields))
    return gzip.compress(("\n".join(lines) + "\n").encode())


def test_a_checkpoint_written_before_the_ledger_still_resumes_exactly(aws: Any, tmp_path: Path) -> None:
    stack = _arrange(aws)
    job = _job(stack)
    # What the previous release wrote after committing the first 20 keys (in listing order): no
    # skipped_by_ledger count, no ledger fields. Those 20 were tagged by it.
    done = sorted(KEYS)[:20]
    for key in done:
        if key in VERDICTS:
            tags = {**({"owner": "ana"} if key == KEYS[0] else {}), ts.TAG_KEY: VERDICTS[key]}
            aws.client("s3").put_object_tagging(
                Bucket=stack.uploads_bucket,
                Key=key,
                Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]},
            )
    with_verdict = sum(1 for k in done if k in VERDICTS)
    old = {
        "version": STATE_VERSION,
        "job": {
            "source": f"s3://{stack.uploads_bucket}/incoming/",
            "table": stack.moderation_table,
            "tag_key": ts.TAG_KEY,
            "overwrite": True,
            "list_ranges": 1,
        },
        "positions": {"list": {"cursor": done[-1], "done": False}},
        "counts": {
            "scanned": 20,
            "tagged": with_verdict,
            "unchanged": 0,
            "pending": 20 - with_verdict,
            "missing": 0,
            "failed": 0,
        },
        "requests": {"ListObjectsV2": 1, "BatchGetItem": 1, "GetObjectTagging": with_verdict},
        "elapsed_s": 1.5,
        "complete": False,
        "updated_at": 1795359600.0,
    }
    state = tmp_path / "old.json"
    state.write_text(json.dumps(old))
    assert old["job"] == job.identity()
    resumed = run_backfill(aws, job, BackfillRun(concurrency=4, state_path=state, resume=True))
    assert resumed.complete
    assert resumed.counts.as_dict() == {
        "scanned": 40,
        "tagged": 30,
        "unchanged": 0,
        "pending": 10,
        "missing": 0,
        "failed": 0,
        "skipped_by_ledger": 0,
    }
    assert ts.all_tags(aws, stack.uploads_bucket, "incoming/") == _expected_tags()
    saved = json.loads(state.read_text())
    assert saved["version"] == STATE_VERSION
    assert saved["complete"] is True


# -- the Lambda handlers -------------------------------------------------------------------------------


@dataclass
class FakeContext:
    remaining_ms: int = 900_000
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:picops-moderation-sweep"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def handlers(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from picops.handlers import moderation

    monkeypatch.setenv("AWS_REGION", "us-east-1")
    _env.reset()
    yield moderation
    _env.reset()


def test_the_sweep_handler_writes_the_ledger_and_then_skips(handlers: Any, aws: Any) -> None:
    stack = _arrange(aws)
    schedule = load_event("eventbridge_scheduled.json")
    first = handlers.sweep_handler(schedule, FakeContext())
    assert first["tagged"] == 30
    assert first["ledger"]["written"] == 30
    items = ts.ledger_items(aws, stack.jobs_table)
    assert len(items) == 30
    assert {i["writer"] for i in items.values()} == {"sweep"}
    second = handlers.sweep_handler(schedule, FakeContext())
    # The default verify_fraction (1/24): this cycle's slice is read on S3, everything else is skipped.
    cycle = first["cycle"]
    in_slice = [k for k in VERDICTS if in_verify_slice(stack.uploads_bucket, k, cycle=cycle, slices=24)]
    assert second["skipped_by_ledger"] == 30 - len(in_slice)
    assert (second["unchanged"], second["tagged"]) == (30, 0)
    assert second["verify_slice"] == f"{cycle % 24 + 1}/24"
    assert ts.all_tags(aws, stack.uploads_bucket, "incoming/") == _expected_tags()


def test_the_batch_handler_records_identity_it_asked_s3_for(handlers: Any, aws: Any) -> None:
    stack = ts.create_stack(aws)
    ts.put_objects(aws, stack.uploads_bucket, ts.ODD_KEYS)
    ts.put_verdicts(aws, stack.moderation_table, {"incoming/plus+sign.jpg": "approved"})
    response = handlers.batch_handler(load_event("s3_batch_operations_2_0.json"), FakeContext())
    assert response["results"][0]["resultString"] == "tagged: approved"
    items = ts.ledger_items(aws, stack.jobs_table)
    entry = items[ledger_pk(stack.uploads_bucket, "incoming/plus+sign.jpg")]
    etag, modified = _head(aws, stack.uploads_bucket, "incoming/plus+sign.jpg")
    assert (entry["verdict"], entry["etag"], entry["last_modified"], entry["writer"]) == (
        "approved",
        etag,
        modified,
        "batch-operations",
    )
    # Only the object with a verdict got an entry (the pending and missing ones did not).
    assert len(items) == 1
    # A sweep now trusts it.
    swept = _sweep(aws, stack, fraction=0)
    assert swept.counts.skipped_by_ledger == 1


def test_the_stream_handler_drops_the_entry_of_a_tag_it_changes(handlers: Any, aws: Any) -> None:
    stack = ts.create_stack(aws)
    ts.put_objects(aws, stack.uploads_bucket, ts.ODD_KEYS)
    ts.put_verdicts(aws, stack.moderation_table, dict.fromkeys(ts.ODD_KEYS, "flagged"))
    _sweep(aws, stack, fraction=0)
    before = ts.ledger_items(aws, stack.jobs_table)
    assert len(before) == len(ts.ODD_KEYS)
    # The stream's records retag two objects (approved, rejected): their entries must go, others stay.
    response = handlers.stream_handler(load_event("dynamodb_stream_moderation.json"), FakeContext())
    assert response == {"batchItemFailures": []}
    after = ts.ledger_items(aws, stack.jobs_table)
    gone = {
        ledger_pk(stack.uploads_bucket, k) for k in ("incoming/with space.jpg", "incoming/ünïcødé-写真.jpg")
    }
    assert set(before) - set(after) == gone
    ts.put_verdicts(
        aws,
        stack.moderation_table,
        {"incoming/with space.jpg": "approved", "incoming/ünïcødé-写真.jpg": "rejected"},
    )
    # So the next sweep checks them on S3 rather than trusting a stale entry.
    swept = _sweep(aws, stack, fraction=0)
    assert swept.counts.skipped_by_ledger == len(ts.ODD_KEYS) - 2


def test_the_ledger_lookup_goes_out_beside_the_verdict_lookup(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Once the ledger makes tag requests rare, the two lookups are each chunk's critical path: one round
    # trip, not two in a row.
    stack = _arrange(aws)
    ledger_asked = threading.Event()
    overlapped: list[bool] = []
    original = VerdictLookup.lookup

    def verdicts_after_the_ledger(self: VerdictLookup, keys: Any) -> dict[str, str | None]:
        overlapped.append(ledger_asked.wait(5))
        return original(self, keys)

    def on_send(request: Any, **_: Any) -> None:
        body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
        if f'"{stack.jobs_table}"'.encode() in body:
            ledger_asked.set()

    monkeypatch.setattr(VerdictLookup, "lookup", verdicts_after_the_ledger)
    ddb = aws.client("dynamodb", concurrency=4)  # the client the backfill will use
    ddb.meta.events.register("before-send.dynamodb.BatchGetItem", on_send, unique_id="watch-ledger")
    try:
        summary = run_backfill(aws, _job(stack), BackfillRun(concurrency=4))
    finally:
        ddb.meta.events.unregister("before-send.dynamodb.BatchGetItem", unique_id="watch-ledger")
    assert overlapped == [True]
    assert summary.requests["BatchGetItem"] == 2  # still one verdict and one ledger lookup per chunk
    assert summary.counts.tagged == 30
    assert ts.all_tags(aws, stack.uploads_bucket, "incoming/") == _expected_tags()
