"""Ingest end to end on the moto server: provision, uploads, `picops local run --once` (the real handler in
the local runtime, fed by real S3 -> SQS notifications), then `picops ingest status|failures|reprocess`."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from picops.config import Settings
from picops.stack.names import StackNames
from tests import ingest_support as ins
from tests import local_support as ls

pytestmark = pytest.mark.e2e


def _names(factory: Any) -> StackNames:
    return StackNames(Settings(), factory.account_id(), factory.region)


def _tap(factory: Any, names: StackNames) -> str:
    sqs = factory.client("sqs")
    url = sqs.create_queue(QueueName=f"tap-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    factory.client("sns").subscribe(
        TopicArn=names.arn("NotifyTopic"),
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return url


def _drain_tap(factory: Any, url: str) -> list[dict[str, Any]]:
    stack = ins.IngestStack(None, "", "", "", "", url)  # type: ignore[arg-type]
    return ins.notifications(factory, stack)


def test_uploads_become_thumbnails_records_jobs_and_notifications_through_local_run(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    names = _names(server_factory)
    tap = _tap(server_factory, names)
    s3 = server_factory.client("s3")
    photo = "incoming/summer trip/été 📷.jpg"
    s3.put_object(Bucket=names.uploads_bucket, Key=photo, Body=ins.jpeg(800, 600, orientation=6))
    s3.put_object(
        Bucket=names.uploads_bucket, Key="incoming/drop.json", Body=json.dumps([{"id": "r1", "v": 2.5}])
    )
    s3.put_object(Bucket=names.uploads_bucket, Key="incoming/broken.png", Body=b"definitely not a png")

    run = cli("local", "run", "--once", "--json", endpoint=endpoint)
    assert run.exit_code == 0, run.stderr
    mapping = next(m for m in run.json()["mappings"] if m["logical"] == "IngestFunctionMapping")
    assert mapping["status"] == "ok", mapping
    assert mapping["failed_records"] == 0
    assert ls.queue_counts(server_factory, names.queue_url("IngestQueue", endpoint)) == (0, 0)
    assert ls.queue_counts(server_factory, names.queue_url("IngestDLQ", endpoint)) == (0, 0)

    thumb = s3.get_object(Bucket=names.processed_bucket, Key=f"thumbnails/{photo}.jpg")
    assert ins.open_image(thumb["Body"].read()).size == (192, 256)  # rotated upright
    notes = _drain_tap(server_factory, tap)
    assert sorted((n["body"]["key"], n["attributes"]["status"]) for n in notes) == [
        ("incoming/broken.png", "failed"),
        ("incoming/drop.json", "processed"),
        (photo, "processed"),
    ]

    status = cli("ingest", "status", photo, "--json", endpoint=endpoint)
    assert status.exit_code == 0, status.stderr
    (job,) = status.json()["jobs"]
    assert (job["status"], job["kind"], job["outputs"]) == ("PROCESSED", "image", f"thumbnails/{photo}.jpg")
    human = cli("ingest", "status", photo, endpoint=endpoint)
    assert human.exit_code == 0
    assert "PROCESSED" in human.stdout
    assert "notified" in human.stdout
    assert job["notified"] is True
    missing = cli("ingest", "status", "incoming/never.jpg", "--json", endpoint=endpoint)
    assert missing.exit_code == 3
    assert "incoming/never.jpg" in missing.stderr
    assert missing.stdout == ""

    failures = cli("ingest", "failures", "--json", endpoint=endpoint)
    assert failures.exit_code == 0, failures.stderr
    doc = failures.json()
    assert [f["key"] for f in doc["failures"]] == ["incoming/broken.png"]
    assert "not an image picops reads" in doc["failures"][0]["reason"]
    assert cli("ingest", "failures", "--kind", "json", "--json", endpoint=endpoint).json()["count"] == 0
    assert cli("ingest", "failures", "--since", "yesterday-ish", endpoint=endpoint).exit_code == 2

    # Fix the broken upload, then reprocess the failures; the processed photo is skipped without --force.
    s3.put_object(Bucket=names.uploads_bucket, Key="incoming/broken.png", Body=ins.png_alpha(40, 30))
    assert cli("local", "run", "--once", "--json", endpoint=endpoint).exit_code == 0  # the new version
    _drain_tap(server_factory, tap)
    refused = cli("ingest", "reprocess", photo, "--json", endpoint=endpoint)
    assert refused.exit_code == 2  # no terminal, no --yes
    dry = cli("ingest", "reprocess", photo, "incoming/nope.jpg", "--dry-run", "--json", endpoint=endpoint)
    assert dry.exit_code == 1, dry.stderr  # a missing key
    assert dry.stdout, dry.stderr
    assert {o["key"]: o["result"] for o in dry.json()["objects"]} == {
        photo: "skipped",
        "incoming/nope.jpg": "missing",
    }
    forced = cli("ingest", "reprocess", photo, "--force", "--yes", "--json", endpoint=endpoint)
    assert forced.exit_code == 0, forced.stderr
    assert forced.json()["counts"] == {"sent": 1}
    assert cli("local", "run", "--once", "--json", endpoint=endpoint).exit_code == 0
    (note,) = _drain_tap(server_factory, tap)
    assert (note["body"]["key"], note["body"]["attempts"]) == (photo, 2)
    # --failed finds broken.png's failed version; its current (fixed) version is already PROCESSED.
    again = cli("ingest", "reprocess", "--failed", "--yes", "--json", endpoint=endpoint).json()
    assert [(o["key"], o["result"]) for o in again["objects"]] == [("incoming/broken.png", "skipped")]
    both = cli("ingest", "reprocess", "--failed", photo, endpoint=endpoint)
    assert both.exit_code == 2
