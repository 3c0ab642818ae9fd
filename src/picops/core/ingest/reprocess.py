"""`picops ingest reprocess`: send S3-shaped notifications for objects' current versions to IngestQueue.

Nothing is copied or rewritten: the handler sees the same event shape S3 sends, plus two message attributes
(`picops-reprocess`, a token unique to this request and object, and `picops-force`). Without force, a
version already PROCESSED is skipped here (and by the handler, should it race) and a FAILED one is tried
again; with force a new attempt and a new notification happen whatever the job says. The token makes a
redelivered reprocess message a duplicate like any other.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from picops.aws_errors import OBJECT_MISSING, is_missing
from picops.core.ingest.events import ObjectRef, s3_event_record
from picops.core.ingest.jobs import PROCESSED, JobStore, now_iso

TOKEN_ATTRIBUTE = "picops-reprocess"
FORCE_ATTRIBUTE = "picops-force"


@dataclass(frozen=True)
class ReprocessItem:
    key: str
    result: str  # sent | would_send | skipped | missing | failed
    version: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "result": self.result, "version": self.version, "reason": self.reason}


def current_version(s3: Any, bucket: str, key: str) -> ObjectRef | None:
    """The object's current version (HeadObject), or None when it does not exist."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError as exc:
        if is_missing(exc, OBJECT_MISSING):
            return None
        raise
    version = head.get("VersionId")
    return ObjectRef(
        bucket=bucket,
        key=key,
        version_id=str(version) if version and version != "null" else None,
        etag=str(head.get("ETag") or "").strip('"') or None,
        size=int(head.get("ContentLength") or 0),
    )


def reprocess_message(ref: ObjectRef, *, region: str, force: bool, token: str) -> dict[str, Any]:
    body = {"Records": [s3_event_record(ref, region=region, event_time=now_iso())]}
    return {
        "MessageBody": json.dumps(body, ensure_ascii=False),
        "MessageAttributes": {
            TOKEN_ATTRIBUTE: {"DataType": "String", "StringValue": token},
            FORCE_ATTRIBUTE: {"DataType": "String", "StringValue": "true" if force else "false"},
        },
    }


def reprocess(
    s3: Any,
    sqs: Any,
    jobs: JobStore,
    *,
    bucket: str,
    queue_url: str,
    keys: Iterable[str],
    region: str,
    force: bool = False,
    dry_run: bool = False,
) -> list[ReprocessItem]:
    results: list[ReprocessItem] = []
    pending: list[tuple[ReprocessItem, dict[str, Any]]] = []
    for key in dict.fromkeys(keys):
        ref = current_version(s3, bucket, key)
        if ref is None:
            results.append(ReprocessItem(key, "missing", reason=f"s3://{bucket}/{key} does not exist"))
            continue
        label = ref.version_id or ref.etag
        job = jobs.get(ref)
        if job is not None and job.status == PROCESSED and not force:
            results.append(
                ReprocessItem(key, "skipped", label, "current version already PROCESSED (use --force)")
            )
            continue
        item = ReprocessItem(key, "would_send" if dry_run else "sent", label)
        if dry_run:
            results.append(item)
            continue
        pending.append((item, reprocess_message(ref, region=region, force=force, token=uuid.uuid4().hex)))
    for start in range(0, len(pending), 10):
        chunk = pending[start : start + 10]
        response = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), **message} for i, (_, message) in enumerate(chunk)],
        )
        failed = {f["Id"]: f for f in response.get("Failed", [])}
        for i, (item, _) in enumerate(chunk):
            failure = failed.get(str(i))
            if failure is None:
                results.append(item)
            else:
                reason = f"SendMessageBatch: {failure.get('Code')}: {failure.get('Message', '')}"
                results.append(ReprocessItem(item.key, "failed", item.version, reason))
    return results


def parse_since(text: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """`24h`, `7d`, `90m`, `30s`, or an ISO 8601 timestamp (UTC when it names no zone)."""
    moment = now or dt.datetime.now(dt.UTC)
    value = text.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    if len(value) >= 2 and value[-1].lower() in units and value[:-1].isdigit():
        return moment - dt.timedelta(seconds=int(value[:-1]) * units[value[-1].lower()])
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a duration (like 24h, 7d, 90m) or an ISO 8601 time (like 2026-12-01T00:00Z)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
