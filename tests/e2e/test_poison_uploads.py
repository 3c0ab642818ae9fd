"""Poison never reaches a DLQ: hostile uploads through the real pipeline (moto server, S3 notifications,
IngestQueue, the local runtime) each end FAILED with a reason naming what is wrong, and IngestDLQ stays empty.

The inputs are the ones a fault-injection run once pushed into IngestDLQ (docs/ingest.md, "Limits and their
errors"): a JSON drop nested past DynamoDB's 32 levels, a drop record id over the 2,048-byte partition-key
limit, a key so long its failure-index sort key would pass 1,024 bytes, a 400 MP pixel bomb, a truncated JPEG
and random bytes named .jpg. Good photos go beside them, one under a key whose percent-encoded metadata would
pass S3's 2 KB.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from picops.config import Settings
from picops.stack.names import StackNames
from tests import ingest_support as ins

pytestmark = pytest.mark.e2e


def _deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"next": value}
    return value


def _poison() -> dict[str, tuple[bytes, str]]:
    """key -> (body, what its FAILED reason must say)."""
    photo = ins.jpeg(640, 480)
    long_key = "incoming/" + "k" * 960 + ".jpg"
    return {
        "incoming/poison/deep.json": (
            json.dumps([{"id": "r1", "payload": _deep(40)}]).encode(),
            "nested more than 32 levels",
        ),
        "incoming/poison/long-id.json": (
            json.dumps([{"id": "i" * 3000, "v": 1}]).encode(),
            "2,048-byte partition key limit",
        ),
        long_key: (b"not an image at all", "not an image"),
        "incoming/poison/bomb.png": (ins.png_header_only(20_000, 20_000), "pixels"),
        "incoming/poison/truncated.jpg": (photo[: len(photo) // 3], "corrupt"),
        "incoming/poison/random.jpg": (bytes(range(256)) * 40, "not an image"),
    }


def test_every_poison_upload_ends_failed_with_its_reason_and_the_dlq_stays_empty(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    names = StackNames(Settings(), "123456789012", "us-east-1")
    s3 = server_factory.client("s3")
    poison = _poison()
    for key, (body, _) in poison.items():
        s3.upload_fileobj(io.BytesIO(body), names.uploads_bucket, key)
    # Good photos beside them; one under a non-ASCII key whose percent-encoded form passes S3's 2 KB of
    # user metadata (the thumbnail's metadata then carries a digest; the job record keeps the key).
    good = ["incoming/poison/good.jpg", "incoming/poison/ünïcødé-" + "写真" * 120 + ".jpg"]
    for key in good:
        s3.put_object(Bucket=names.uploads_bucket, Key=key, Body=ins.jpeg(800, 600))

    run = cli("local", "run", "--until-idle", "--json", endpoint=endpoint)
    assert run.exit_code == 0, run.stderr
    summary = run.json()
    assert summary["idle"] is True

    failures = cli("ingest", "failures", "--json", endpoint=endpoint)
    assert failures.exit_code == 0, failures.stderr
    reasons = {f["key"]: f["reason"] for f in failures.json()["failures"]}
    for key, (_, says) in poison.items():
        assert key in reasons, f"{key[:60]}... has no FAILED job"
        assert says in reasons[key], (key[:60], reasons[key])
    for key in good:
        assert key not in reasons
        status = cli("ingest", "status", key, "--json", endpoint=endpoint)
        assert status.exit_code == 0, status.stderr
        assert "PROCESSED" in status.stdout

    sqs = server_factory.client("sqs")
    for logical in ("IngestQueue", "IngestDLQ"):
        url = sqs.get_queue_url(QueueName=names.physical(logical))["QueueUrl"]
        attrs = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        assert attrs == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}, (
            logical
        )
