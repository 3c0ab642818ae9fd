"""The engine against in-process moto: merge, limits, versions, odd keys, request economy, dry-run."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber

from picops.core.tagging.backfill import BackfillJob, BackfillRun, run_backfill
from picops.core.tagging.engine import EngineOptions, TaggingEngine
from picops.core.tagging.model import Candidate, Outcome, StreamDone
from picops.core.tagging.requests import RequestCounter
from picops.core.tagging.tracker import Tracker
from picops.core.tagging.verdicts import VerdictLookup
from picops.stack.names import StackNames
from tests import tagging_support as ts

STATUSES = ("approved", "flagged", "rejected")


def _job(stack: StackNames, **kw: Any) -> BackfillJob:
    args: dict[str, Any] = {
        "table": stack.moderation_table,
        "key_attribute": "object_key",
        "status_attribute": "status",
        "tag_key": ts.TAG_KEY,
        "statuses": STATUSES,
        "bucket": stack.uploads_bucket,
        "prefix": "incoming/",
    }
    args.update(kw)
    return BackfillJob(**args)


def test_merge_keeps_other_tags_and_second_run_changes_nothing(aws: Any) -> None:
    stack = ts.create_stack(aws)
    ts.put_objects(
        aws,
        stack.uploads_bucket,
        ["incoming/a.jpg", "incoming/b.jpg"],
        {"incoming/a.jpg": {"owner": "ana", "camera": "x100"}, "incoming/b.jpg": {ts.TAG_KEY: "flagged"}},
    )
    ts.put_verdicts(aws, stack.moderation_table, {"incoming/a.jpg": "approved", "incoming/b.jpg": "rejected"})
    summary = run_backfill(aws, _job(stack), BackfillRun(concurrency=4))
    assert summary.counts.tagged == 2
    assert ts.tags_of(aws, stack.uploads_bucket, "incoming/a.jpg") == {
        "owner": "ana",
        "camera": "x100",
        ts.TAG_KEY: "approved",
    }
    assert ts.tags_of(aws, stack.uploads_bucket, "incoming/b.jpg") == {ts.TAG_KEY: "rejected"}
    again = run_backfill(aws, _job(stack), BackfillRun(concurrency=4))
    assert again.counts.unchanged == 2
    assert again.requests.get("PutObjectTagging", 0) == 0


def test_no_overwrite_keeps_a_different_existing_verdict(aws: Any) -> None:
    stack = ts.create_stack(aws)
    ts.put_objects(aws, stack.uploads_bucket, ["incoming/b.jpg"], {"incoming/b.jpg": {ts.TAG_KEY: "flagged"}})
    ts.put_verdicts(aws, stack.moderation_table, {"incoming/b.jpg": "rejected"})
    summary = run_backfill(aws, _job(stack, overwrite=False), BackfillRun(concurrency=2))
    assert summary.counts.unchanged == 1
    assert ts.tags_of(aws, stack.uploads_bucket, "incoming/b.jpg") == {ts.TAG_KEY: "flagged"}


def test_ten_tag_object_and_bad_verdicts_fail_per_object_without_stopping_the_run(aws: Any) -> None:
    stack = ts.create_stack(aws)
    full = {f"t{i}": "v" for i in range(10)}
    keys = ["incoming/full.jpg", "incoming/bogus.jpg", "incoming/number.jpg", "incoming/ok.jpg"]
    ts.put_objects(aws, stack.uploads_bucket, keys, {"incoming/full.jpg": full})
    ts.put_verdicts(
        aws,
        stack.moderation_table,
        {
            "incoming/full.jpg": "approved",
            "incoming/bogus.jpg": "maybe",
            "incoming/number.jpg": {"N": "3"},
            "incoming/ok.jpg": "approved",
        },
    )
    results: list[Any] = []
    summary = run_backfill(aws, _job(stack), BackfillRun(concurrency=4, on_result=results.append))
    assert summary.counts.failed == 3
    assert summary.counts.tagged == 1
    errors = {r.key: r.error for r in results if r.outcome is Outcome.FAILED}
    assert "10 tags" in errors["incoming/full.jpg"]
    assert "maybe" in errors["incoming/bogus.jpg"]
    assert "non-string" in errors["incoming/number.jpg"]
    assert ts.tags_of(aws, stack.uploads_bucket, "incoming/full.jpg") == full


def test_odd_keys_are_tagged(aws: Any) -> None:
    stack = ts.create_stack(aws)
    ts.put_objects(aws, stack.uploads_bucket, ts.ODD_KEYS)
    ts.put_verdicts(aws, stack.moderation_table, dict.fromkeys(ts.ODD_KEYS, "flagged"))
    summary = run_backfill(aws, _job(stack), BackfillRun(concurrency=4))
    assert summary.counts.tagged == len(ts.ODD_KEYS)
    for key in ts.ODD_KEYS:
        assert ts.tags_of(aws, stack.uploads_bucket, key) == {ts.TAG_KEY: "flagged"}


def test_pending_objects_cost_no_s3_request(aws: Any) -> None:
    stack = ts.create_stack(aws)
    keys = [f"incoming/p{i:03}.jpg" for i in range(150)]
    ts.put_objects(aws, stack.uploads_bucket, keys)
    ts.put_verdicts(aws, stack.moderation_table, {"incoming/p000.jpg": "approved"})
    summary = run_backfill(aws, _job(stack), BackfillRun(concurrency=8))
    assert summary.counts.pending == 149
    # The listing's first page is one lookup chunk (100 keys), the rest comes in a second page.
    assert summary.requests == {
        "ListObjectsV2": 2,
        "BatchGetItem": 2,
        "GetObjectTagging": 1,
        "PutObjectTagging": 1,
    }


def test_dry_run_writes_nothing(aws: Any) -> None:
    stack = ts.create_stack(aws)
    ts.put_objects(aws, stack.uploads_bucket, ["incoming/a.jpg"], {"incoming/a.jpg": {"owner": "ana"}})
    ts.put_verdicts(aws, stack.moderation_table, {"incoming/a.jpg": "approved"})
    summary = run_backfill(aws, _job(stack), BackfillRun(concurrency=2, dry_run=True))
    assert summary.counts.tagged == 1
    assert summary.requests.get("PutObjectTagging", 0) == 0
    assert ts.tags_of(aws, stack.uploads_bucket, "incoming/a.jpg") == {"owner": "ana"}


def test_versioned_bucket_tags_the_named_version_or_the_current_one(aws: Any) -> None:
    stack = ts.create_stack(aws, versioned=True)
    bucket = stack.uploads_bucket
    old = ts.put_objects(aws, bucket, ["incoming/v.jpg"])["incoming/v.jpg"]
    new = ts.put_objects(aws, bucket, ["incoming/v.jpg"])["incoming/v.jpg"]
    assert old != new
    s3 = aws.client("s3")
    engine = TaggingEngine(s3, None, EngineOptions(ts.TAG_KEY, STATUSES, concurrency=1))
    result = engine.tag_object(Candidate(bucket, "incoming/v.jpg", old), "flagged")
    assert result.outcome is Outcome.TAGGED
    assert ts.tags_of(aws, bucket, "incoming/v.jpg", old) == {ts.TAG_KEY: "flagged"}
    assert ts.tags_of(aws, bucket, "incoming/v.jpg", new) == {}
    # Listing names no version: the current one is tagged.
    ts.put_verdicts(aws, stack.moderation_table, {"incoming/v.jpg": "approved"})
    run_backfill(aws, _job(stack), BackfillRun(concurrency=2))
    assert ts.tags_of(aws, bucket, "incoming/v.jpg", new) == {ts.TAG_KEY: "approved"}
    assert ts.tags_of(aws, bucket, "incoming/v.jpg", old) == {ts.TAG_KEY: "flagged"}
    # A deleted version is missing, not a crash.
    s3.delete_object(Bucket=bucket, Key="incoming/v.jpg", VersionId=old)
    gone = engine.tag_object(Candidate(bucket, "incoming/v.jpg", old), "flagged")
    assert gone.outcome is Outcome.MISSING


def test_object_deleted_between_listing_and_tagging_is_missing(aws: Any) -> None:
    stack = ts.create_stack(aws)
    engine = TaggingEngine(aws.client("s3"), None, EngineOptions(ts.TAG_KEY, STATUSES))
    result = engine.tag_object(Candidate(stack.uploads_bucket, "incoming/never.jpg"), "approved")
    assert result.outcome is Outcome.MISSING


def test_unprocessed_keys_are_retried_with_backoff() -> None:
    import boto3

    ddb = boto3.client("dynamodb", region_name="us-east-1")
    sleeps: list[float] = []
    lookup = VerdictLookup(
        ddb, "t", key_attribute="object_key", status_attribute="status", sleep=sleeps.append
    )
    keys = [f"k{i}" for i in range(3)]
    request = {
        "t": {
            "Keys": [{"object_key": {"S": k}} for k in keys],
            "ProjectionExpression": "#k, #s",
            "ExpressionAttributeNames": {"#k": "object_key", "#s": "status"},
            "ConsistentRead": False,
        }
    }
    left = {"t": {"Keys": [{"object_key": {"S": "k2"}}]}}
    with Stubber(ddb) as stub:
        stub.add_response(
            "batch_get_item",
            {
                "Responses": {"t": [{"object_key": {"S": "k0"}, "status": {"S": "approved"}}]},
                "UnprocessedKeys": left,
            },
            {"RequestItems": request},
        )
        stub.add_response(
            "batch_get_item",
            {
                "Responses": {"t": [{"object_key": {"S": "k2"}, "status": {"S": "flagged"}}]},
                "UnprocessedKeys": {},
            },
            {"RequestItems": left},
        )
        assert lookup.lookup(keys) == {"k0": "approved", "k1": None, "k2": "flagged"}
        stub.assert_no_pending_responses()
    assert len(sleeps) == 1


def test_lookup_batches_of_100_with_duplicates(aws: Any) -> None:
    stack = ts.create_stack(aws)
    ddb = aws.client("dynamodb")
    ts.put_verdicts(aws, stack.moderation_table, {f"k{i}": "approved" for i in range(0, 250, 7)})
    with RequestCounter().attach(ddb) as counter:
        lookup = VerdictLookup(
            ddb, stack.moderation_table, key_attribute="object_key", status_attribute="status"
        )
        found = lookup.lookup([f"k{i}" for i in range(250)] + ["k0", "k7"])
    assert counter.snapshot() == {"BatchGetItem": 3}
    assert sum(v is not None for v in found.values()) == len(range(0, 250, 7))


def test_parallel_key_ranges_cover_every_object_once(aws: Any) -> None:
    stack = ts.create_stack(aws)
    keys = [f"incoming/{c}{i}.jpg" for c in "0aZz~ü" for i in range(30)] + ts.ODD_KEYS
    ts.put_objects(aws, stack.uploads_bucket, keys)
    ts.put_verdicts(aws, stack.moderation_table, dict.fromkeys(keys, "approved"))
    seen: list[str] = []
    summary = run_backfill(
        aws, _job(stack, list_ranges=5), BackfillRun(concurrency=4, on_result=lambda r: seen.append(r.key))
    )
    assert sorted(seen) == sorted(keys)
    assert summary.counts.tagged == len(keys)


def test_limit_then_resume_finishes_with_exact_totals(aws: Any, tmp_path: Any) -> None:
    stack = ts.create_stack(aws)
    keys = [f"incoming/r{i:03}.jpg" for i in range(230)]
    ts.put_objects(aws, stack.uploads_bucket, keys)
    ts.put_verdicts(aws, stack.moderation_table, dict.fromkeys(keys[::2], "approved"))
    state = tmp_path / "s.json"
    first = run_backfill(aws, _job(stack), BackfillRun(concurrency=4, limit=120, state_path=state))
    assert not first.complete
    assert first.counts.scanned == 120
    rest = run_backfill(aws, _job(stack), BackfillRun(concurrency=4, state_path=state, resume=True))
    assert rest.complete
    assert rest.counts.as_dict() == {
        "scanned": 230,
        "tagged": 115,
        "unchanged": 0,
        "pending": 115,
        "missing": 0,
        "failed": 0,
        "skipped_by_ledger": 0,
    }
    # A finished job resumed again does nothing.
    done = run_backfill(aws, _job(stack), BackfillRun(concurrency=4, state_path=state, resume=True))
    assert done.counts.scanned == 230


def test_resume_refuses_a_state_file_of_another_job(aws: Any, tmp_path: Any) -> None:
    from picops.errors import UsageError

    stack = ts.create_stack(aws)
    state = tmp_path / "s.json"
    run_backfill(aws, _job(stack), BackfillRun(concurrency=1, state_path=state, limit=0))
    with pytest.raises(UsageError, match="different job"):
        run_backfill(aws, _job(stack, prefix="other/"), BackfillRun(state_path=state, resume=True))


def test_should_stop_leaves_unsubmitted_work_uncommitted(aws: Any) -> None:
    stack = ts.create_stack(aws)
    keys = [f"incoming/s{i:03}.jpg" for i in range(300)]
    ts.put_objects(aws, stack.uploads_bucket, keys)
    ts.put_verdicts(aws, stack.moderation_table, dict.fromkeys(keys, "approved"))
    s3, ddb = aws.client("s3"), aws.client("dynamodb")
    engine = TaggingEngine(
        s3,
        VerdictLookup(ddb, stack.moderation_table, key_attribute="object_key", status_attribute="status"),
        EngineOptions(ts.TAG_KEY, STATUSES, concurrency=4),
    )
    calls = iter(range(1000))
    tracker = Tracker()

    def items() -> Any:
        for key in keys:
            yield Candidate(stack.uploads_bucket, key, None, "list", key)
        yield StreamDone("list")

    end = engine.run(items(), tracker, should_stop=lambda: next(calls) >= 150)
    assert end.stopped
    positions, committed = tracker.snapshot()
    assert committed.scanned == 100  # one full chunk flushed; the partial second chunk was dropped
    assert positions["list"]["cursor"] == keys[99]


def test_wrong_key_attribute_is_a_configuration_error(aws: Any) -> None:
    from picops.errors import ConfigError

    stack = ts.create_stack(aws)
    ts.put_objects(aws, stack.uploads_bucket, ["incoming/a.jpg"])
    with pytest.raises(ConfigError, match="key_attribute"):
        run_backfill(aws, _job(stack, key_attribute="photo_key"), BackfillRun(concurrency=2))
