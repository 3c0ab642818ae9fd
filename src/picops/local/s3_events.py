"""The local endpoint's S3 event notifications, completed to the shape AWS sends (docs/local.md).

moto's notification record carries the key, size and ETag only. AWS's also carries the object's `versionId`
on a versioned bucket and a `sequencer` (hex, increasing for the events of one key), plus the
`userIdentity`, `requestParameters` and `responseElements` sections. Without the version id the ingest
handler cannot tell two versions of one key apart as it does on AWS: an overwritten key's first version
would be looked up by ETag and found overwritten, or (identical bytes) missed. `install()` wraps moto's
record builder in the endpoint's process; it is idempotent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_last = 0
_INSTALLED = "_picops_completed"


def next_sequencer() -> str:
    """An 18-digit upper-case hex value larger than every one before it in this process."""
    global _last
    with _lock:
        _last = max(_last + 1, time.time_ns())
        return f"{_last:018X}"


def complete(record: dict[str, Any], bucket: Any, key: Any) -> dict[str, Any]:
    """`record` (one moto S3 event record) with the fields AWS's carry."""
    obj = record.setdefault("s3", {}).setdefault("object", {})
    version = getattr(key, "version_id", None)
    if getattr(bucket, "is_versioned", False) and version and version != "null":
        obj["versionId"] = str(version)
    obj["sequencer"] = next_sequencer()
    record.setdefault("userIdentity", {"principalId": "AWS:AIDAPICOPSLOCAL"})
    record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
    record.setdefault("responseElements", {"x-amz-request-id": "PICOPSLOCAL", "x-amz-id-2": "picops-local"})
    record["s3"].get("bucket", {}).setdefault("ownerIdentity", {"principalId": "PICOPSLOCAL"})
    return record


def install() -> None:
    """Make moto's S3 notifications (queue, topic, function targets) carry AWS's fields."""
    from moto.s3 import notifications

    original: Callable[..., dict[str, Any]] = notifications._get_s3_event
    if getattr(original, _INSTALLED, False):
        return

    def build(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
        event = original(event_name, bucket, key, notification_id)
        for record in event.get("Records", []):
            complete(record, bucket, key)
        return event

    setattr(build, _INSTALLED, True)
    notifications._get_s3_event = build
