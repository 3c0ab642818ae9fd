"""Shared arrangements for the ingest tests: the stack's ingest resources, generated images, real-shaped
events (tests/events/sqs_s3_*.json rewritten to name the objects a test uploaded), and a notification tap."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import struct
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from PIL import Image

from picops.config import Settings
from picops.stack.names import StackNames
from tests.conftest import load_event

ACCOUNT, REGION = "123456789012", "us-east-1"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:picops-ingest:live"

ODD_KEYS = [
    "incoming/with space.jpg",
    "incoming/plus+sign.jpg",
    "incoming/percent%20literal.jpg",
    "incoming/ünïcødé-写真.jpg",
    "incoming/emoji 📷🌅.jpg",
    "incoming/deep/a/b/c/d/e/f/g/h/mixed + %2B & spaces.jpg",
]


@dataclass
class FakeContext:
    remaining_ms: int = 30_000
    invoked_function_arn: str = FUNCTION_ARN
    function_name: str = "picops-ingest"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "7d1b6a5c-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass(frozen=True)
class IngestStack:
    names: StackNames
    uploads: str
    processed: str
    table: str
    topic_arn: str
    tap_url: str  # an SQS queue subscribed (raw delivery) to NotifyTopic


def create_stack(factory: Any, settings: Settings | None = None) -> IngestStack:
    names = StackNames(settings or Settings(), factory.account_id(), factory.region)
    s3 = factory.client("s3")
    s3.create_bucket(Bucket=names.uploads_bucket)
    s3.put_bucket_versioning(Bucket=names.uploads_bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.create_bucket(Bucket=names.processed_bucket)
    table = names.physical("JobsTable")
    factory.client("dynamodb").create_table(
        TableName=table,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sns = factory.client("sns")
    topic_arn = sns.create_topic(Name=names.physical("NotifyTopic"))["TopicArn"]
    sqs = factory.client("sqs")
    tap_url = sqs.create_queue(QueueName=f"notify-tap-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    tap_arn = sqs.get_queue_attributes(QueueUrl=tap_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=tap_arn, Attributes={"RawMessageDelivery": "true"}
    )
    return IngestStack(names, names.uploads_bucket, names.processed_bucket, table, topic_arn, tap_url)


def notifications(factory: Any, stack: IngestStack) -> list[dict[str, Any]]:
    """Every notification delivered to the tap so far (drained), as {body, attributes}."""
    sqs = factory.client("sqs")
    seen: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=stack.tap_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            return seen
        for m in messages:
            attributes = {k: v["StringValue"] for k, v in (m.get("MessageAttributes") or {}).items()}
            seen.append({"body": json.loads(m["Body"]), "attributes": attributes})
            sqs.delete_message(QueueUrl=stack.tap_url, ReceiptHandle=m["ReceiptHandle"])


# -- images -------------------------------------------------------------------------------------------


def jpeg(width: int = 1200, height: int = 800, *, orientation: int | None = None, quality: int = 90) -> bytes:
    """A JPEG whose left half is red and right half blue (so orientation is observable), with EXIF."""
    image = Image.new("RGB", (width, height), (220, 20, 20))
    image.paste((20, 20, 220), (width // 2, 0, width, height))
    exif = Image.Exif()
    exif[0x010F] = "picops-test-camera"  # Make
    if orientation is not None:
        exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()


def png_alpha(width: int = 400, height: int = 300) -> bytes:
    """A fully transparent PNG with an opaque green square in the middle."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    image.paste((0, 160, 0, 255), (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def webp(width: int = 640, height: int = 480) -> bytes:
    image = Image.new("RGB", (width, height), (250, 200, 0))
    out = io.BytesIO()
    image.save(out, "WEBP", quality=80)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels, with a tiny (invalid) image stream: a pixel bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def open_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# -- events -------------------------------------------------------------------------------------------


def put(factory: Any, stack: IngestStack, key: str, body: bytes, **extra: Any) -> dict[str, Any]:
    response = factory.client("s3").put_object(Bucket=stack.uploads, Key=key, Body=body, **extra)
    return {
        "key": key,
        "version": response.get("VersionId"),
        "etag": response["ETag"].strip('"'),
        "size": len(body),
    }


def s3_records(objects: Iterable[dict[str, Any]], bucket: str) -> list[dict[str, Any]]:
    """S3 notification records for uploaded objects, from the real-shaped fixture (keys URL-encoded as S3
    encodes them: `quote_plus`, `/` kept)."""
    template = json.loads(load_event("sqs_s3_put.json")["Records"][0]["body"])["Records"][0]
    records = []
    for i, obj in enumerate(objects):
        record = copy.deepcopy(template)
        record["s3"]["bucket"]["name"] = bucket
        record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
        shaped = {"key": quote_plus(obj["key"], safe="/"), "size": obj["size"], "eTag": obj["etag"]}
        if obj.get("version"):
            shaped["versionId"] = obj["version"]
        shaped["sequencer"] = f"0062E99A88DC4074{i:02X}"
        record["s3"]["object"] = shaped
        records.append(record)
    return records


def sqs_event(
    bodies: Iterable[dict[str, Any] | str], *, attributes: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """An SQS event (the fixture's record shape) with one record per body."""
    template = load_event("sqs_s3_put.json")["Records"][0]
    records = []
    for i, body in enumerate(bodies):
        record = copy.deepcopy(template)
        text = body if isinstance(body, str) else json.dumps(body)
        record["messageId"] = str(uuid.uuid4())
        record["receiptHandle"] = f"AQEB{uuid.uuid4().hex}"
        record["body"] = text
        record["md5OfBody"] = hashlib.md5(text.encode()).hexdigest()
        if attributes and i < len(attributes):
            record["messageAttributes"] = {
                k: {"stringValue": v, "stringListValues": [], "binaryListValues": [], "dataType": "String"}
                for k, v in attributes[i].items()
            }
        records.append(record)
    return {"Records": records}


def event_for(objects: Iterable[dict[str, Any]], stack: IngestStack) -> dict[str, Any]:
    """One SQS message per object."""
    return sqs_event({"Records": [r]} for r in s3_records(objects, stack.uploads))


def job_items(factory: Any, stack: IngestStack, key: str) -> list[dict[str, Any]]:
    from picops.core.ingest import JobStore

    return [
        j.as_dict() for j in JobStore(factory.client("dynamodb"), stack.table).jobs_for(stack.uploads, key)
    ]


@contextlib.contextmanager
def count_calls_context(client: Any) -> Iterator[dict[str, int]]:
    """Counts the API calls `client` makes inside the block, by operation name."""
    counts: dict[str, int] = {}

    def record(model: Any, **_: Any) -> None:
        counts[model.name] = counts.get(model.name, 0) + 1

    client.meta.events.register("before-call.*.*", record, unique_id="count-calls")
    try:
        yield counts
    finally:
        client.meta.events.unregister("before-call.*.*", unique_id="count-calls")
