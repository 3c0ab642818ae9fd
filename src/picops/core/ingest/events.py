"""Parse the body of one IngestQueue message: an S3 event notification (docs/ingest.md).

S3 sends one JSON document per SQS message; it may hold several `Records`. When a notification
configuration is created S3 sends an `s3:TestEvent` body (no `Records`), which carries no work. Object keys
arrive URL-encoded as in an HTML form (`+` for a space), so every key is decoded here with `unquote_plus`;
Powertools' `S3Object.key` is not decoded, so nothing downstream trusts it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, unquote_plus


class NotS3Notification(ValueError):
    """The body is not an S3 event notification: it can never succeed, so it is acknowledged."""


@dataclass(frozen=True)
class ObjectRef:
    """One object version an S3 notification names (key decoded)."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    event_name: str = "ObjectCreated:Put"
    sequencer: str | None = None

    @property
    def removed(self) -> bool:
        return self.event_name.startswith("ObjectRemoved:")

    @property
    def delete_marker(self) -> bool:
        """A delete marker hides the key's current version; `version_id` is the marker's own."""
        return self.event_name == "ObjectRemoved:DeleteMarkerCreated"

    @property
    def version_label(self) -> str:
        """The job's sort-key part: the version id, or the ETag on an unversioned bucket."""
        if self.version_id and self.version_id != "null":
            return self.version_id
        return self.etag.strip('"') if self.etag else "null"

    def as_dict(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "key": self.key, "version": self.version_id, "etag": self.etag}


@dataclass(frozen=True)
class ParsedBody:
    refs: tuple[ObjectRef, ...] = ()
    test_event: bool = False
    ignored: tuple[str, ...] = field(default_factory=tuple)  # neither ObjectCreated nor ObjectRemoved
    removed: tuple[ObjectRef, ...] = ()  # ObjectRemoved records: derived images follow their original


def parse_body(body: str | None) -> ParsedBody:
    """The object versions one SQS message body names. Raises NotS3Notification for anything else."""
    if not body:
        raise NotS3Notification("empty message body")
    try:
        document = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise NotS3Notification(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise NotS3Notification("body is nested too deeply to be an S3 notification") from None
    if not isinstance(document, dict):
        raise NotS3Notification("body is not a JSON object")
    if document.get("Event") == "s3:TestEvent" and "Records" not in document:
        return ParsedBody(test_event=True)
    records = document.get("Records")
    if not isinstance(records, list) or not records:
        raise NotS3Notification("body has no S3 Records")
    refs: list[ObjectRef] = []
    removed: list[ObjectRef] = []
    ignored: list[str] = []
    for index, record in enumerate(records):
        refs_or_none = _record(record, index)
        if isinstance(refs_or_none, str):
            ignored.append(refs_or_none)
        elif refs_or_none.removed:
            removed.append(refs_or_none)
        else:
            refs.append(refs_or_none)
    return ParsedBody(refs=tuple(refs), ignored=tuple(ignored), removed=tuple(removed))


def _record(record: Any, index: int) -> ObjectRef | str:
    if not isinstance(record, dict) or record.get("eventSource") != "aws:s3":
        raise NotS3Notification(f"record {index} is not an aws:s3 event record")
    event_name = str(record.get("eventName", ""))
    s3 = record.get("s3")
    if not isinstance(s3, dict):
        raise NotS3Notification(f"record {index} has no s3 section")
    bucket = (s3.get("bucket") or {}).get("name")
    obj = s3.get("object") or {}
    raw_key = obj.get("key")
    if not isinstance(bucket, str) or not bucket or not isinstance(raw_key, str) or not raw_key:
        raise NotS3Notification(f"record {index} names no bucket or object key")
    try:
        key = unquote_plus(raw_key, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise NotS3Notification(f"record {index}: object key {raw_key!r} is not URL-encoded UTF-8") from None
    if not event_name.startswith(("ObjectCreated:", "ObjectRemoved:")):
        return f"{event_name or 'unnamed event'} for {key}"
    size = obj.get("size")
    version = obj.get("versionId")
    etag = obj.get("eTag")
    return ObjectRef(
        bucket=bucket,
        key=key,
        version_id=str(version) if version else None,
        etag=str(etag) if etag else None,
        size=int(size) if isinstance(size, int | float) and not isinstance(size, bool) else None,
        event_name=event_name,
        sequencer=str(obj["sequencer"]) if obj.get("sequencer") else None,
    )


def sequencer_after(a: str, b: str) -> bool:
    """Whether sequencer `a` names a later event on the same key than `b`. S3's sequencers are hex strings
    of varying length, compared after padding the shorter one on the right with zeros."""
    width = max(len(a), len(b))
    return a.upper().ljust(width, "0") > b.upper().ljust(width, "0")


def s3_event_record(
    ref: ObjectRef, *, region: str, event_time: str, event_name: str = "ObjectCreated:Put"
) -> dict[str, Any]:
    """One S3 notification record for `ref`, field for field as S3 sends it (key URL-encoded)."""
    obj: dict[str, Any] = {"key": quote_plus(ref.key, safe="/"), "size": ref.size or 0}
    if ref.etag:
        obj["eTag"] = ref.etag.strip('"')
    if ref.version_id:
        obj["versionId"] = ref.version_id
    obj["sequencer"] = ref.sequencer or "0"
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": event_time,
        "eventName": event_name,
        "userIdentity": {"principalId": "picops"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "picops", "x-amz-id-2": "picops"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "picops-reprocess",
            "bucket": {
                "name": ref.bucket,
                "ownerIdentity": {"principalId": "picops"},
                "arn": f"arn:aws:s3:::{ref.bucket}",
            },
            "object": obj,
        },
    }
