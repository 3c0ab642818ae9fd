"""Inventory reports as a source: verified, streamed, versions and delete markers, CSV and Parquet."""

from __future__ import annotations

import io
from typing import Any

import pytest

from picops.core.tagging.backfill import BackfillJob, BackfillRun, run_backfill
from picops.errors import UsageError, ValidationFailed
from picops.stack.names import StackNames
from tests import tagging_support as ts

INVENTORY_BUCKET = "inventory-dest"


def _job(stack: StackNames, url: str) -> BackfillJob:
    return BackfillJob(
        table=stack.moderation_table,
        key_attribute="object_key",
        status_attribute="status",
        tag_key=ts.TAG_KEY,
        statuses=("approved", "flagged", "rejected"),
        inventory=url,
    )


def _arrange(aws: Any, *, versioned: bool = False) -> tuple[StackNames, dict[str, str | None]]:
    stack = ts.create_stack(aws, versioned=versioned)
    aws.client("s3").create_bucket(Bucket=INVENTORY_BUCKET)
    keys = ["incoming/a.jpg", *ts.ODD_KEYS]
    versions = ts.put_objects(aws, stack.uploads_bucket, keys)
    ts.put_verdicts(aws, stack.moderation_table, dict.fromkeys(keys, "approved"))
    return stack, versions


def test_csv_inventory_tags_latest_objects_and_skips_markers_and_old_versions(aws: Any) -> None:
    stack, _ = _arrange(aws, versioned=True)
    bucket = stack.uploads_bucket
    old = ts.put_objects(aws, bucket, ["incoming/a.jpg"])["incoming/a.jpg"]
    current = ts.put_objects(aws, bucket, ["incoming/a.jpg"])["incoming/a.jpg"]
    assert old is not None
    assert current is not None
    rows = [(bucket, k, "", True, False) for k in ts.ODD_KEYS]
    rows += [
        (bucket, "incoming/a.jpg", current, True, False),
        (bucket, "incoming/a.jpg", old, False, False),
        (bucket, "incoming/deleted.jpg", "dm1", True, True),
    ]
    url = ts.put_inventory(aws, INVENTORY_BUCKET, bucket, [ts.csv_gz(rows[:3]), ts.csv_gz(rows[3:])])
    summary = run_backfill(aws, _job(stack, url), BackfillRun(concurrency=4))
    assert summary.counts.scanned == len(ts.ODD_KEYS) + 1
    assert summary.counts.tagged == len(ts.ODD_KEYS) + 1
    assert summary.source == url
    for key in ts.ODD_KEYS:
        assert ts.tags_of(aws, bucket, key) == {ts.TAG_KEY: "approved"}
    assert ts.tags_of(aws, bucket, "incoming/a.jpg", current) == {ts.TAG_KEY: "approved"}
    assert ts.tags_of(aws, bucket, "incoming/a.jpg", old) == {}


def test_manifest_checksum_mismatch_is_refused_before_any_tagging(aws: Any) -> None:
    stack, _ = _arrange(aws)
    rows = [(stack.uploads_bucket, "incoming/a.jpg", "", True, False)]
    url = ts.put_inventory(
        aws, INVENTORY_BUCKET, stack.uploads_bucket, [ts.csv_gz(rows)], corrupt_checksum=True
    )
    with pytest.raises(ValidationFailed, match=r"manifest\.checksum"):
        run_backfill(aws, _job(stack, url), BackfillRun(concurrency=2))
    assert ts.tags_of(aws, stack.uploads_bucket, "incoming/a.jpg") == {}


def test_data_file_md5_mismatch_is_refused(aws: Any) -> None:
    stack, _ = _arrange(aws)
    rows = [(stack.uploads_bucket, "incoming/a.jpg", "", True, False)]
    url = ts.put_inventory(
        aws, INVENTORY_BUCKET, stack.uploads_bucket, [ts.csv_gz(rows)], corrupt_file_md5=True
    )
    with pytest.raises(ValidationFailed, match="MD5"):
        run_backfill(aws, _job(stack, url), BackfillRun(concurrency=2))
    assert ts.tags_of(aws, stack.uploads_bucket, "incoming/a.jpg") == {}


def test_orc_inventory_is_a_clear_error(aws: Any) -> None:
    stack, _ = _arrange(aws)
    url = ts.put_inventory(aws, INVENTORY_BUCKET, stack.uploads_bucket, [b"orc"], file_format="ORC")
    with pytest.raises(UsageError, match="ORC"):
        run_backfill(aws, _job(stack, url), BackfillRun(concurrency=2))


def test_parquet_inventory(aws: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    stack, _ = _arrange(aws)
    keys = [*ts.ODD_KEYS, "incoming/a.jpg", "incoming/old.jpg"]
    table = pa.table(
        {
            "bucket": [stack.uploads_bucket] * len(keys),
            "key": keys,  # Parquet inventory keys are not URL-encoded
            "version_id": [None] * len(keys),
            "is_latest": [True] * (len(keys) - 1) + [False],
            "is_delete_marker": [False] * len(keys),
            "size": [1] * len(keys),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=2)
    schema = "message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); }"
    url = ts.put_inventory(
        aws, INVENTORY_BUCKET, stack.uploads_bucket, [sink.getvalue()], file_format="Parquet", schema=schema
    )
    summary = run_backfill(aws, _job(stack, url), BackfillRun(concurrency=4))
    assert summary.counts.tagged == len(keys) - 1
    for key in keys[:-1]:
        assert ts.tags_of(aws, stack.uploads_bucket, key) == {ts.TAG_KEY: "approved"}


def test_inventory_resume_skips_consumed_rows(aws: Any, tmp_path: Any) -> None:
    stack = ts.create_stack(aws)
    aws.client("s3").create_bucket(Bucket=INVENTORY_BUCKET)
    keys = [f"incoming/i{i:03}.jpg" for i in range(250)]
    ts.put_objects(aws, stack.uploads_bucket, keys)
    ts.put_verdicts(aws, stack.moderation_table, dict.fromkeys(keys, "flagged"))
    rows = [(stack.uploads_bucket, k, "", True, False) for k in keys]
    url = ts.put_inventory(
        aws, INVENTORY_BUCKET, stack.uploads_bucket, [ts.csv_gz(rows[:130]), ts.csv_gz(rows[130:])]
    )
    state = tmp_path / "inv.json"
    first = run_backfill(aws, _job(stack, url), BackfillRun(concurrency=4, limit=180, state_path=state))
    assert first.counts.scanned == 180
    second = run_backfill(aws, _job(stack, url), BackfillRun(concurrency=4, state_path=state, resume=True))
    assert second.counts.scanned == 250
    assert second.counts.tagged == 250
    assert second.requests["PutObjectTagging"] == 250
