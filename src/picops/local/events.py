"""Lambda event shapes built from what the AWS APIs return (pure functions, no AWS calls).

Lambda's pollers turn SQS ReceiveMessage results and DynamoDB Streams GetRecords results into the events a
function receives; these builders do the same, field for field, so handlers run locally see exactly what
they would see on AWS. boto3 decodes some wire values (binary attributes to bytes, timestamps to
datetimes); Lambda's JSON carries them as base64 strings and epoch seconds, so they are re-encoded here.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any


def region_of_arn(arn: str) -> str:
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        raise ValueError(f"{arn!r} is not an ARN")
    return parts[3]


def _b64(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    # Already base64 text (a JSON source): passed through as Lambda would.
    return str(value)


# -- SQS -----------------------------------------------------------------------------------------------


def sqs_message_attributes(attributes: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """SQS API message attributes (`StringValue`, `BinaryValue`, `DataType`) in Lambda's camelCase form."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in (attributes or {}).items():
        shaped: dict[str, Any] = {
            "stringListValues": list(value.get("StringListValues") or []),
            "binaryListValues": [_b64(v) for v in value.get("BinaryListValues") or []],
            "dataType": value["DataType"],
        }
        if "StringValue" in value:
            shaped = {"stringValue": value["StringValue"], **shaped}
        if "BinaryValue" in value:
            shaped = {"binaryValue": _b64(value["BinaryValue"]), **shaped}
        out[name] = shaped
    return out


def sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """One record of a Lambda SQS event from one ReceiveMessage message (received with all attributes)."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        # System attributes as SQS returned them (strings), as Lambda passes them on.
        "attributes": {str(k): str(v) for k, v in (message.get("Attributes") or {}).items()},
        "messageAttributes": sqs_message_attributes(message.get("MessageAttributes")),
        "md5OfBody": message.get("MD5OfBody", ""),
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update(
        {"eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region_of_arn(queue_arn)}
    )
    return record


def sqs_event(messages: Sequence[Mapping[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {"Records": [sqs_record(m, queue_arn) for m in messages]}


# -- DynamoDB Streams ----------------------------------------------------------------------------------


def attribute_value(value: Any) -> Any:
    """A DynamoDB AttributeValue from boto3's low-level client, in the JSON form the stream event uses."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return value
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": _b64(inner)}
    if kind == "BS":
        return {"BS": [_b64(v) for v in inner]}
    if kind == "M":
        return {"M": image(inner)}
    if kind == "L":
        return {"L": [attribute_value(v) for v in inner]}
    return {kind: inner}


def image(item: Mapping[str, Any] | None) -> dict[str, Any]:
    return {str(k): attribute_value(v) for k, v in (item or {}).items()}


def epoch_seconds(value: Any) -> Any:
    """Lambda gives ApproximateCreationDateTime as epoch seconds (a number)."""
    if isinstance(value, dt.datetime):
        when = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return int(when.timestamp())
    return value


def dynamodb_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """One record of a Lambda DynamoDB stream event from one GetRecords record."""
    stream = record.get("dynamodb") or {}
    shaped: dict[str, Any] = {}
    if "ApproximateCreationDateTime" in stream:
        shaped["ApproximateCreationDateTime"] = epoch_seconds(stream["ApproximateCreationDateTime"])
    shaped["Keys"] = image(stream.get("Keys"))
    for name in ("NewImage", "OldImage"):
        if name in stream:
            shaped[name] = image(stream[name])
    for name in ("SequenceNumber", "SizeBytes", "StreamViewType"):
        if name in stream:
            shaped[name] = stream[name]
    out: dict[str, Any] = {
        "eventID": record.get("eventID"),
        "eventName": record.get("eventName"),
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        # The table's region: the stream ARN names it (an emulator may report a fixed one per record).
        "awsRegion": region_of_arn(stream_arn),
        "dynamodb": shaped,
        "eventSourceARN": stream_arn,
    }
    if record.get("userIdentity"):
        # TTL deletions carry the service principal that removed the item.
        out["userIdentity"] = dict(record["userIdentity"])
    return out


def dynamodb_event(records: Sequence[Mapping[str, Any]], stream_arn: str) -> dict[str, Any]:
    return {"Records": [dynamodb_record(r, stream_arn) for r in records]}


# -- EventBridge schedule ------------------------------------------------------------------------------


def scheduled_event(
    rule_arn: str, *, now: dt.datetime | None = None, event_id: str | None = None
) -> dict[str, Any]:
    """The event an EventBridge schedule rule delivers to its target."""
    parts = rule_arn.split(":")
    if len(parts) < 6 or parts[2] != "events":
        raise ValueError(f"{rule_arn!r} is not an EventBridge rule ARN")
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": parts[4],
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": parts[3],
        "resources": [rule_arn],
        "detail": {},
    }
