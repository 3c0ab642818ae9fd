"""Demo step: uploads become thumbnails, records, job items and one notification each (the ingest pipeline).

Uploads, under a fresh folder of `[ingest] prefix`: a 12-megapixel JPEG with EXIF orientation 6, a PNG with
alpha under a key with spaces and unicode, a 12-megapixel WebP, a phone-style HEIC (orientation 6, a 320 px
embedded thumbnail), an AVIF with orientation 6, a JSON drop with a list of records and one corrupt image.
One `LocalRuntime` drain (what `picops local run --once` does) delivers S3's notifications from IngestQueue
to the real handler. ok only when every thumbnail has the right size and orientation, the records and job
items are in JobsTable, each object got exactly one notification (seen through an SQS queue subscribed to
NotifyTopic) and IngestDLQ is empty.
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

from PIL import Image
from rich.markup import escape

from picops.cli.demo_steps import DemoContext, DemoStep, StepResult
from picops.cli.demo_steps.logview import demo_log_view
from picops.core.ingest import JobStore, thumbnail_key
from picops.local.runtime import LocalRuntime
from picops.stack.names import StackNames

MAPPING = "IngestFunctionMapping"


def jpeg_12mp() -> bytes:
    # Stored landscape 4000x3000, left half red and right half blue; orientation 6 = view rotated 90 cw.
    image = Image.new("RGB", (4000, 3000), (210, 30, 30))
    image.paste((30, 30, 210), (2000, 0, 4000, 3000))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif.tobytes())
    return out.getvalue()


def _png_alpha() -> bytes:
    image = Image.new("RGBA", (900, 600), (0, 0, 0, 0))
    image.paste((0, 150, 60, 255), (300, 200, 600, 400))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def webp_12mp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4000, 3000), (240, 190, 20)).save(out, "WEBP", quality=80, method=0)
    return out.getvalue()


def _halves_exif_6(width: int, height: int) -> tuple[Image.Image, bytes]:
    image = Image.new("RGB", (width, height), (210, 30, 30))
    image.paste((30, 30, 210), (width // 2, 0, width, height))
    exif = Image.Exif()
    exif[0x0112] = 6
    return image, exif.tobytes()


def heic() -> bytes:
    import pillow_heif

    image, exif = _halves_exif_6(1600, 1200)
    out = io.BytesIO()
    pillow_heif.from_pillow(image).save(out, quality=70, exif=exif, thumbnails=[320])
    return out.getvalue()


def avif() -> bytes:
    image, exif = _halves_exif_6(1200, 900)
    out = io.BytesIO()
    image.save(out, "AVIF", quality=60, speed=8, exif=exif)
    return out.getvalue()


def _tap(factory: Any, names: StackNames) -> str:
    sqs = factory.client("sqs")
    url = str(sqs.create_queue(QueueName=f"{names.stack}-demo-notify-tap")["QueueUrl"])
    sqs.purge_queue(QueueUrl=url)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    factory.client("sns").subscribe(
        TopicArn=names.arn("NotifyTopic"),
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"},
        ReturnSubscriptionArn=True,
    )
    return url


def _notifications(factory: Any, url: str) -> list[dict[str, Any]]:
    sqs = factory.client("sqs")
    seen: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            return seen
        for m in messages:
            seen.append(
                {
                    "body": json.loads(m["Body"]),
                    "status": (m.get("MessageAttributes") or {}).get("status", {}).get("StringValue"),
                }
            )
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def _pixel(data: bytes, x: float, y: float) -> tuple[int, int, int]:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    value = image.getpixel((int(x * (image.width - 1)), int(y * (image.height - 1))))
    assert isinstance(value, tuple)
    return (int(value[0]), int(value[1]), int(value[2]))


def run(ctx: DemoContext) -> StepResult:
    factory = ctx.factory
    names = StackNames(ctx.settings, factory.account_id(), factory.region)
    folder = f"{ctx.settings.ingest.prefix}demo-{uuid.uuid4().hex[:8]}/"
    observer = ctx.observer or factory
    tap = _tap(observer, names)
    keys, records = _upload(ctx, names, folder)
    mapping = drain(ctx)

    problems: list[str] = []
    if mapping.get("status") != "ok":
        problems.append(f"{MAPPING} {mapping.get('status', 'missing')}: {mapping.get('detail', '')}")
    thumbs = _thumbnails(factory.client("s3"), names, keys, problems)
    dynamodb = factory.client("dynamodb")
    table = names.physical("JobsTable")
    stored = [
        dynamodb.get_item(TableName=table, Key={"pk": {"S": r["id"]}, "sk": {"S": "RECORD"}}).get("Item")
        for r in records
    ]
    if not all(stored):
        problems.append(f"{sum(1 for s in stored if s)}/{len(records)} JSON records in JobsTable")
    expected = {name: ("FAILED" if name == "corrupt" else "PROCESSED") for name in keys}
    store = JobStore(dynamodb, table)
    found = {name: store.jobs_for(names.uploads_bucket, key) for name, key in keys.items()}
    jobs = {name: [j.status for j in listed] for name, listed in found.items()}
    renditions = {
        name: [r["key"] for j in listed for r in (j.renditions or [])] for name, listed in found.items()
    }
    for name, status in expected.items():
        if jobs[name] != [status]:
            problems.append(f"job for {keys[name]}: {jobs[name]} (expected [{status!r}])")
    notes = [n for n in _notifications(observer, tap) if str(n["body"].get("key", "")).startswith(folder)]
    per_key: dict[str, list[str | None]] = {}
    for note in notes:
        per_key.setdefault(note["body"]["key"], []).append(note["status"])
    for name, key in keys.items():
        if per_key.get(key) != [expected[name].lower()]:
            problems.append(f"notifications for {key}: {per_key.get(key, [])}")
    in_dlq = _dlq_depth(factory, names)
    if in_dlq:
        problems.append(f"IngestDLQ holds {in_dlq} message(s)")

    sizes = ", ".join(f"{n} {t['size'][0]}x{t['size'][1]}" for n, t in thumbs.items())
    detail = (
        f"{len(keys)} uploads -> {len(thumbs)} thumbnails ({sizes}), "
        f"{sum(len(listed) for listed in renditions.values())} renditions in the jobs, "
        f"{sum(1 for s in stored if s)} records, {len(notes)} notifications, IngestDLQ {in_dlq}"
    )
    if problems:
        detail += "; " + "; ".join(problems)
    return StepResult(
        name="ingest (uploads -> thumbnails, records, jobs, notifications)",
        ok=not problems,
        detail=detail,
        data={
            "keys": keys,
            "thumbnails": {n: t["size"] for n, t in thumbs.items()},
            "jobs": jobs,
            "renditions": {name: listed for name, listed in renditions.items() if listed},
            "notifications": per_key,
            "dlq_messages": in_dlq,
            "runtime": mapping,
        },
    )


def _upload(ctx: DemoContext, names: StackNames, folder: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """One object of each kind the pipeline handles (and a corrupt one) under `folder`: their keys, and the
    records the JSON drop carries."""
    keys = {
        "jpeg": f"{folder}camera roll/IMG_0001 (portrait).jpg",
        "png": f"{folder}Grüße aus Köln ☀/transparent logo.png",
        "webp": f"{folder}web/banner.webp",
        "heic": f"{folder}camera roll/IMG_0002.heic",
        "avif": f"{folder}web/hero.avif",
        "json": f"{folder}drops/readings.json",
        "corrupt": f"{folder}broken/corrupt.jpg",
    }
    records = [{"id": f"{folder}reading-{i}", "celsius": 20.5 + i, "ok": True} for i in range(3)]
    photo = jpeg_12mp()
    bodies = {
        "jpeg": photo,
        "png": _png_alpha(),
        "webp": webp_12mp(),
        "heic": heic(),
        "avif": avif(),
        "json": json.dumps(records).encode(),
        "corrupt": photo[:2048],  # a truncated JPEG
    }
    s3 = ctx.factory.client("s3")
    for name, key in keys.items():
        s3.put_object(Bucket=names.uploads_bucket, Key=key, Body=bodies[name])
    ctx.out.status(f"  uploaded {len(keys)} objects under {escape(folder)}")
    return keys, records


def drain(ctx: DemoContext) -> dict[str, Any]:
    """Run the local runtime until the queues are idle; the ingest mapping's line of its summary (with the
    faults injected, under `picops demo --faults`)."""
    runtime = LocalRuntime(
        ctx.factory,
        ctx.settings,
        progress=lambda line: ctx.out.status(f"  {escape(line)}"),
        log_view=demo_log_view(ctx.out),
        faults=ctx.faults,
    )
    try:
        runtime.prepare()
        if runtime.faults is None:
            runtime.drain()
        else:
            # A drain ends on a poll of redeliveries; crashed and duplicated batches come back as those.
            runtime.run_until_idle()
    finally:
        runtime.close()
    summary = runtime.summary()
    mapping: dict[str, Any] = next((m for m in summary["mappings"] if m["logical"] == MAPPING), {})
    return {**mapping, "faults": summary["faults"]} if summary["faults"] else mapping


def _thumbnails(s3: Any, names: StackNames, keys: dict[str, str], problems: list[str]) -> dict[str, Any]:
    """Each image's thumbnail, checked: upright, alpha flattened onto white, the expected size."""
    thumbs: dict[str, Any] = {}
    for name in ("jpeg", "png", "webp", "heic", "avif"):
        try:
            data = s3.get_object(Bucket=names.processed_bucket, Key=thumbnail_key(keys[name]))["Body"].read()
        except s3.exceptions.NoSuchKey:
            problems.append(f"no thumbnail for {keys[name]}")
            continue
        image = Image.open(io.BytesIO(data))
        thumbs[name] = {"size": list(image.size), "data": data}
    for name in ("jpeg", "heic", "avif"):
        if name in thumbs:
            top = _pixel(thumbs[name]["data"], 0.5, 0.05)
            if tuple(thumbs[name]["size"]) != (192, 256) or not top[0] > 150 > top[2]:
                problems.append(f"{name} thumbnail {thumbs[name]['size']} not upright (top pixel {top})")
    if "png" in thumbs and min(_pixel(thumbs["png"]["data"], 0.02, 0.02)) < 240:
        problems.append("PNG alpha was not flattened onto white")
    if "webp" in thumbs and tuple(thumbs["webp"]["size"]) != (256, 192):
        problems.append(f"WebP thumbnail is {thumbs['webp']['size']}, expected [256, 192]")
    return thumbs


def _dlq_depth(factory: Any, names: StackNames) -> int:
    sqs = factory.client("sqs")
    dlq_url = sqs.get_queue_url(QueueName=names.physical("IngestDLQ"))["QueueUrl"]
    attrs = sqs.get_queue_attributes(
        QueueUrl=dlq_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


STEP = DemoStep(title="ingesting photos and a JSON drop with the local runtime (local run)", run=run)
