"""SQS messages as picops handles them: received, filtered, re-sent, archived.

One typed shape (`QueueMessage`) carries everything a redrive must keep: body, message attributes, and the
FIFO group and deduplication ids. It converts to a SendMessageBatch entry, to a JSON-safe archive record and
back, and to the document a `--filter` JMESPath expression is evaluated against.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from picops.errors import ValidationFailed

# Current SQS quotas: a message, and the sum of a SendMessageBatch's messages, may each be up to 1 MiB
# (raised from 256 KiB in 2025); a batch holds at most 10 entries. Sizes count the body plus every message
# attribute's name, data type and value.
MAX_BATCH_BYTES = 1_048_576
MAX_BATCH_ENTRIES = 10

# System attributes requested on every receive. DeadLetterQueueSourceArn is set by SQS on messages it moves
# to a DLQ; MessageGroupId/MessageDeduplicationId/SequenceNumber only exist on FIFO queues.
SYSTEM_ATTRIBUTES = (
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "MessageGroupId",
    "MessageDeduplicationId",
    "SequenceNumber",
    "DeadLetterQueueSourceArn",
    "SenderId",
    "AWSTraceHeader",
)

_ATTRIBUTE_VALUE_KEYS = ("StringValue", "BinaryValue")


def _clean_attributes(raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Only what SendMessage accepts: DataType plus a String or Binary value (no empty list fields)."""
    cleaned: dict[str, dict[str, Any]] = {}
    for name, value in raw.items():
        if not isinstance(value, Mapping) or "DataType" not in value:
            raise ValidationFailed(f"message attribute {name!r} has no DataType")
        entry: dict[str, Any] = {"DataType": str(value["DataType"])}
        for key in _ATTRIBUTE_VALUE_KEYS:
            if value.get(key) is not None:
                entry[key] = value[key]
        if len(entry) == 1:
            raise ValidationFailed(f"message attribute {name!r} has neither StringValue nor BinaryValue")
        cleaned[str(name)] = entry
    return cleaned


# Deduplication ids picops gives re-sent FIFO messages start with this (SQS allows 128 characters).
REDRIVE_DEDUP_PREFIX = "picops-redrive-"


@dataclass(frozen=True)
class QueueMessage:
    """One received (or archived) message. `receipt_handle` is empty for messages read from an archive."""

    message_id: str
    body: str
    message_attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    receipt_handle: str = ""

    @classmethod
    def from_sqs(cls, raw: Mapping[str, Any]) -> QueueMessage:
        return cls(
            message_id=str(raw["MessageId"]),
            body=str(raw.get("Body", "")),
            message_attributes=_clean_attributes(raw.get("MessageAttributes") or {}),
            attributes={str(k): str(v) for k, v in (raw.get("Attributes") or {}).items()},
            receipt_handle=str(raw.get("ReceiptHandle", "")),
        )

    @property
    def group_id(self) -> str | None:
        return self.attributes.get("MessageGroupId")

    @property
    def dedup_id(self) -> str | None:
        return self.attributes.get("MessageDeduplicationId")

    @property
    def source_arn(self) -> str | None:
        return self.attributes.get("DeadLetterQueueSourceArn")

    @property
    def receive_count(self) -> int | None:
        value = self.attributes.get("ApproximateReceiveCount")
        return int(value) if value and value.isdigit() else None

    @property
    def sent_at(self) -> str | None:
        value = self.attributes.get("SentTimestamp")
        if not value or not value.isdigit():
            return None
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC).isoformat(timespec="milliseconds")

    def stable_dedup_id(self) -> str:
        """The id a FIFO re-send carries: derived from this DLQ message (its message id and the original
        deduplication id), so a re-send of the same DLQ message after a crash is absorbed by the
        destination's 5-minute deduplication window, and never equal to the original id: a FIFO queue that
        saw the original within 5 minutes (short visibility, low maxReceiveCount, `--to` a queue that just
        had it) would otherwise accept the redrive as a duplicate, report success and discard it."""
        seed = f"picops-redrive\0{self.message_id}\0{self.dedup_id or ''}"
        return REDRIVE_DEDUP_PREFIX + hashlib.sha256(seed.encode()).hexdigest()

    def size_bytes(self) -> int:
        """Bytes this message counts against SQS's message and batch size limits."""
        size = len(self.body.encode("utf-8"))
        for name, value in self.message_attributes.items():
            size += len(name.encode("utf-8")) + len(str(value["DataType"]).encode("utf-8"))
            if "StringValue" in value:
                size += len(str(value["StringValue"]).encode("utf-8"))
            elif "BinaryValue" in value:
                size += len(_as_bytes(value["BinaryValue"]))
        return size

    def send_entry(self, entry_id: str, *, fifo: bool) -> dict[str, Any]:
        """A SendMessageBatch entry that keeps body, attributes and (FIFO) group and deduplication ids."""
        entry: dict[str, Any] = {"Id": entry_id, "MessageBody": self.body}
        if self.message_attributes:
            entry["MessageAttributes"] = {
                name: dict(value) for name, value in self.message_attributes.items()
            }
        if fifo:
            if not self.group_id:
                raise ValidationFailed(
                    f"message {self.message_id} has no MessageGroupId, so it cannot go to a FIFO queue"
                )
            entry["MessageGroupId"] = self.group_id
            entry["MessageDeduplicationId"] = self.stable_dedup_id()
        elif self.group_id:
            # Standard queues accept a group id (fair queues); keeping it loses nothing.
            entry["MessageGroupId"] = self.group_id
        return entry

    def filter_document(self) -> dict[str, Any]:
        """What `--filter` sees: the body (parsed when it is JSON), attribute values by name, and facts."""
        try:
            body: Any = json.loads(self.body)
        except ValueError:
            body = self.body
        return {
            "message_id": self.message_id,
            "body": body,
            "raw_body": self.body,
            "group_id": self.group_id,
            "message_attributes": {
                name: value.get("StringValue", _b64(value.get("BinaryValue")))
                for name, value in self.message_attributes.items()
            },
            "attributes": dict(self.attributes),
        }

    # Archive records ---------------------------------------------------------------------------------
    def to_record(self, *, queue_arn: str, action: str, destination_arn: str | None = None) -> dict[str, Any]:
        return {
            "v": 1,
            "action": action,
            "archived_at": datetime.now(tz=UTC).isoformat(timespec="milliseconds"),
            "queue_arn": queue_arn,
            "destination_arn": destination_arn,
            "message_id": self.message_id,
            "body": self.body,
            "message_attributes": {
                name: {key: (_b64(val) if key == "BinaryValue" else val) for key, val in value.items()}
                for name, value in self.message_attributes.items()
            },
            "attributes": dict(self.attributes),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> QueueMessage:
        if not isinstance(record.get("message_id"), str) or not isinstance(record.get("body"), str):
            raise ValidationFailed("archive record needs string fields message_id and body")
        raw_attrs = record.get("message_attributes") or {}
        if not isinstance(raw_attrs, Mapping):
            raise ValidationFailed("archive record's message_attributes must be an object")
        attrs: dict[str, dict[str, Any]] = {}
        for name, value in raw_attrs.items():
            if not isinstance(value, Mapping):
                raise ValidationFailed(f"archive record's message attribute {name!r} must be an object")
            decoded = dict(value)
            if "BinaryValue" in decoded:
                try:
                    decoded["BinaryValue"] = base64.b64decode(str(decoded["BinaryValue"]), validate=True)
                except ValueError as exc:
                    raise ValidationFailed(f"attribute {name!r}: BinaryValue is not base64") from exc
            attrs[str(name)] = decoded
        system = record.get("attributes") or {}
        if not isinstance(system, Mapping):
            raise ValidationFailed("archive record's attributes must be an object")
        return cls(
            message_id=record["message_id"],
            body=record["body"],
            message_attributes=_clean_attributes(attrs),
            attributes={str(k): str(v) for k, v in system.items()},
        )


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return str(value).encode("utf-8")


def _b64(value: Any) -> str | None:
    if value is None:
        return None
    return base64.b64encode(_as_bytes(value)).decode("ascii")


def pack_batches(messages: list[QueueMessage]) -> list[list[QueueMessage]]:
    """Split `messages`, in order, into SendMessageBatch-sized groups: at most 10 entries and 1 MiB."""
    batches: list[list[QueueMessage]] = []
    current: list[QueueMessage] = []
    current_bytes = 0
    for message in messages:
        size = message.size_bytes()
        if current and (len(current) >= MAX_BATCH_ENTRIES or current_bytes + size > MAX_BATCH_BYTES):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(message)
        current_bytes += size
    if current:
        batches.append(current)
    return batches
