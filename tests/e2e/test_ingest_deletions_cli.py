"""Derived outputs follow their original end to end on the moto server: a deleted upload's thumbnail goes
with it through `picops local run` (S3's ObjectRemoved notification), and `picops ingest gc` removes what a
deletion left behind without a notification (docs/ingest.md, "Deletions")."""

from __future__ import annotations

from typing import Any

import pytest

from picops.config import Settings
from picops.stack.names import StackNames
from tests import ingest_support as ins

pytestmark = pytest.mark.e2e


def _thumbnails(s3: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_deleting_an_original_removes_its_thumbnail_and_gc_removes_orphans(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    names = StackNames(Settings(), server_factory.account_id(), server_factory.region)
    s3 = server_factory.client("s3")
    kept, removed, hidden = "incoming/kept.jpg", "incoming/removed.jpg", "incoming/hidden.jpg"
    versions = {
        key: s3.put_object(Bucket=names.uploads_bucket, Key=key, Body=ins.jpeg(400, 300))["VersionId"]
        for key in (kept, removed, hidden)
    }
    assert cli("local", "run", "--once", "--json", endpoint=endpoint).exit_code == 0
    every = [f"thumbnails/{k}.jpg" for k in sorted((kept, removed, hidden))]
    assert _thumbnails(s3, names.processed_bucket) == every

    # Its only version deleted: S3 notifies ObjectRemoved:Delete, and the thumbnail follows.
    s3.delete_object(Bucket=names.uploads_bucket, Key=removed, VersionId=versions[removed])
    run = cli("local", "run", "--once", "--json", endpoint=endpoint)
    assert run.exit_code == 0, run.stderr
    assert _thumbnails(s3, names.processed_bucket) == [f"thumbnails/{hidden}.jpg", f"thumbnails/{kept}.jpg"]
    status = cli("ingest", "status", removed, "--json", endpoint=endpoint).json()
    assert [j["status"] for j in status["jobs"]] == ["DELETED"]

    # A delete marker the function never heard of (here: the emulator sends none) leaves an orphan.
    s3.delete_object(Bucket=names.uploads_bucket, Key=hidden)
    dry = cli("ingest", "gc", "--dry-run", "--json", endpoint=endpoint)
    assert dry.exit_code == 0, dry.stderr
    assert [(o["key"], o["outputs"]["renditions"]) for o in dry.json()["orphans"]] == [
        (hidden, [f"thumbnails/{hidden}.jpg"])
    ]
    assert _thumbnails(s3, names.processed_bucket) == [f"thumbnails/{hidden}.jpg", f"thumbnails/{kept}.jpg"]
    # Removing data needs a confirmation; --json cannot ask.
    assert cli("ingest", "gc", "--json", endpoint=endpoint).exit_code == 2
    done = cli("ingest", "gc", "--yes", "--json", endpoint=endpoint)
    assert done.exit_code == 0, done.stderr
    (orphan,) = done.json()["orphans"]
    assert orphan["removed"]["renditions"] == [f"thumbnails/{hidden}.jpg"]
    assert _thumbnails(s3, names.processed_bucket) == [f"thumbnails/{kept}.jpg"]
    assert cli("ingest", "gc", "--dry-run", "--json", endpoint=endpoint).json()["count"] == 0
