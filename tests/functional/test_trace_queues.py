"""`picops trace`'s queue entries against in-process moto: the messages of the stack's queues and DLQs that
mention the traced booking or object, with their receive counts, left in their queues."""

from __future__ import annotations

import json
from typing import Any

from picops.aws import ClientFactory
from picops.config import load_settings
from picops.core.trace.queues import (
    BOOKING_QUEUES,
    OBJECT_QUEUES,
    object_needles,
    queue_entries,
    stack_queues,
)
from picops.stack.names import StackNames

KEY = "incoming/trace/poison photo.jpg"


def _names(aws: ClientFactory) -> StackNames:
    settings = load_settings(overrides={"aws": {"region": "us-east-1"}}, use_files=False)
    return StackNames(settings, aws.account_id(), aws.region)


def _s3_event(key: str) -> str:
    # S3 event notifications carry the key URL-encoded, spaces as "+".
    encoded = key.replace(" ", "+")
    return json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": encoded}}}]})


def _queue(sqs: Any, name: str) -> str:
    attributes = {"FifoQueue": "true"} if name.endswith(".fifo") else {}
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def _receive_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    found = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, MessageSystemAttributeNames=["All"]
    )
    return list(found.get("Messages", []))


def test_an_object_s_dlq_message_is_listed_with_its_receives_and_left_there(aws: ClientFactory) -> None:
    sqs, names = aws.client("sqs"), _names(aws)
    ingest = _queue(sqs, names.physical("IngestQueue"))
    dlq = _queue(sqs, names.physical("IngestDLQ"))
    sqs.send_message(QueueUrl=dlq, MessageBody=_s3_event(KEY))
    sqs.send_message(QueueUrl=dlq, MessageBody=_s3_event("incoming/trace/other.jpg"))
    sqs.send_message(QueueUrl=ingest, MessageBody=_s3_event("incoming/trace/other.jpg"))
    # The consumer's two failed attempts before it landed here.
    for _ in range(2):
        _receive_all(sqs, dlq)

    queues, missing = stack_queues(sqs, names, OBJECT_QUEUES)
    assert missing == []
    entries, gaps = queue_entries(sqs, queues, object_needles(KEY))
    assert gaps == []
    (entry,) = entries
    assert entry.source == "IngestDLQ"
    assert entry.fields["receive_count"] == 2
    assert entry.what == "message in IngestDLQ: its consumer gave up after 2 receive(s)"
    assert entry.at_ms > 0
    # Peeked, not consumed: both messages are still in the DLQ, visible.
    assert len(_receive_all(sqs, dlq)) == 2


def test_a_booking_s_fifo_message_is_found_by_its_attribute_and_a_missing_queue_is_a_gap(
    aws: ClientFactory,
) -> None:
    sqs, names = aws.client("sqs"), _names(aws)
    payment = _queue(sqs, names.physical("PaymentQueue"))
    for queue in ("InventoryQueue", "InventoryDLQ"):
        _queue(sqs, names.physical(queue))
    for booking in ("B-1", "B-2"):
        sqs.send_message(
            QueueUrl=payment,
            MessageBody=json.dumps({"event_id": "gala", "seat_id": "A1"}),
            MessageGroupId="gala#A1",
            MessageDeduplicationId=booking,
            MessageAttributes={"booking_id": {"DataType": "String", "StringValue": booking}},
        )

    queues, missing = stack_queues(sqs, names, BOOKING_QUEUES)
    assert [q.logical for q in queues] == ["InventoryQueue", "PaymentQueue", "InventoryDLQ"]
    assert len(missing) == 1
    assert missing[0].startswith("PaymentDLQ: not read (")
    entries, _ = queue_entries(sqs, queues, ["B-2"])
    (entry,) = entries
    assert entry.source == "PaymentQueue"
    assert entry.what == "message waiting in PaymentQueue (0 earlier receive(s))"
    assert entry.fields["group_id"] == "gala#A1"


def test_a_queue_deeper_than_the_limit_says_only_part_was_read(aws: ClientFactory) -> None:
    sqs, names = aws.client("sqs"), _names(aws)
    url = _queue(sqs, names.physical("IngestDLQ"))
    for n in range(4):
        sqs.send_message(QueueUrl=url, MessageBody=_s3_event(f"incoming/{n}.jpg"))
    queues, _ = stack_queues(sqs, names, ("IngestDLQ",))
    _, gaps = queue_entries(sqs, queues, object_needles(KEY), limit=3)
    assert gaps == ["IngestDLQ: only its first 3 messages were looked at"]


def test_object_needles_cover_the_key_as_s3_events_encode_it() -> None:
    assert object_needles("a b/c+d.jpg") == ["a b/c+d.jpg", "a%20b/c%2Bd.jpg", "a+b/c%2Bd.jpg"]
