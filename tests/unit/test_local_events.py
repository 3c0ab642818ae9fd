"""Event shapes the local runtime builds, checked against real AWS event fixtures (tests/events)."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest

from picops.local import events
from tests.conftest import load_event


def _api_message(record: dict[str, Any]) -> dict[str, Any]:
    """What SQS ReceiveMessage (via boto3) returned for the message Lambda turned into `record`."""
    attributes: dict[str, Any] = {}
    for name, value in record["messageAttributes"].items():
        api: dict[str, Any] = {"DataType": value["dataType"]}
        if "stringValue" in value:
            api["StringValue"] = value["stringValue"]
        if "binaryValue" in value:
            api["BinaryValue"] = base64.b64decode(value["binaryValue"])  # boto3 decodes blobs
        attributes[name] = api
    message = {
        "MessageId": record["messageId"],
        "ReceiptHandle": record["receiptHandle"],
        "MD5OfBody": record["md5OfBody"],
        "Body": record["body"],
        "Attributes": dict(record["attributes"]),
    }
    if attributes:
        message["MessageAttributes"] = attributes
    return message


@pytest.mark.parametrize("fixture", ["sqs_standard.json", "sqs_fifo.json"])
def test_sqs_event_matches_lambda_shape(fixture: str) -> None:
    expected = load_event(fixture)
    record = expected["Records"][0]
    built = events.sqs_event([_api_message(record)], record["eventSourceARN"])
    assert built == expected


def test_sqs_region_comes_from_the_queue_arn() -> None:
    record = load_event("sqs_standard.json")["Records"][0]
    built = events.sqs_record(_api_message(record), "arn:aws:sqs:eu-west-1:123456789012:q")
    assert built["awsRegion"] == "eu-west-1"
    assert built["eventSourceARN"] == "arn:aws:sqs:eu-west-1:123456789012:q"


def _api_stream_record(record: dict[str, Any]) -> dict[str, Any]:
    """What DynamoDB Streams GetRecords (via boto3) returned for `record`."""
    api = {k: v for k, v in record.items() if k != "eventSourceARN"}
    stream = dict(api["dynamodb"])
    stream["ApproximateCreationDateTime"] = dt.datetime.fromtimestamp(
        stream["ApproximateCreationDateTime"], dt.UTC
    )
    api["dynamodb"] = stream
    api["awsRegion"] = "us-east-1"
    return api


def test_dynamodb_event_matches_lambda_shape() -> None:
    expected = load_event("dynamodb_stream_moderation.json")
    arn = expected["Records"][0]["eventSourceARN"]
    built = events.dynamodb_event([_api_stream_record(r) for r in expected["Records"]], arn)
    assert built == expected


def test_dynamodb_binary_and_nested_values_are_base64_text() -> None:
    record = {
        "eventID": "1",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "dynamodb": {
            "Keys": {"k": {"B": b"\x00\x01"}},
            "NewImage": {
                "k": {"B": b"\x00\x01"},
                "set": {"BS": [b"a", b"b"]},
                "map": {"M": {"inner": {"B": b"z"}, "n": {"N": "1"}}},
                "list": {"L": [{"B": b"y"}, {"S": "s"}]},
            },
            "SequenceNumber": "5",
            "SizeBytes": 10,
            "StreamViewType": "NEW_IMAGE",
        },
    }
    built = events.dynamodb_record(record, "arn:aws:dynamodb:eu-west-1:1:table/t/stream/x")
    assert built["awsRegion"] == "eu-west-1"
    image = built["dynamodb"]["NewImage"]
    assert built["dynamodb"]["Keys"] == {"k": {"B": "AAE="}}
    assert image["set"] == {"BS": ["YQ==", "Yg=="]}
    assert image["map"] == {"M": {"inner": {"B": "eg=="}, "n": {"N": "1"}}}
    assert image["list"] == {"L": [{"B": "eQ=="}, {"S": "s"}]}
    assert "OldImage" not in built["dynamodb"]


def test_scheduled_event_matches_eventbridge_shape() -> None:
    expected = load_event("eventbridge_scheduled.json")
    built = events.scheduled_event(
        expected["resources"][0],
        now=dt.datetime(2026, 11, 22, 15, 0, 0, 123456, tzinfo=dt.UTC),
        event_id=expected["id"],
    )
    assert built == expected


def test_scheduled_event_rejects_a_non_rule_arn() -> None:
    with pytest.raises(ValueError, match="not an EventBridge rule ARN"):
        events.scheduled_event("arn:aws:sqs:us-east-1:1:q")
