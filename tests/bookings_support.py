"""The bookings pipeline driven in-process: real handlers, moto DynamoDB, and a model of the two FIFO queues.

`Harness` creates BookingsTable on the current moto backend, points the handlers' container caches at it,
and replaces the BookingTopic publish with a fan-out into two in-memory FIFO queues (per-group order,
receive counts, a DLQ after maxReceiveCount, in-flight messages that come back when not acknowledged).
Events are built from the real-shaped fixtures in tests/events/.
"""

from __future__ import annotations

import copy
import itertools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from picops.core.bookings import BookingMessage, BookingStore, SimulatedGateway
from picops.handlers import _env
from tests.conftest import load_event

ACCOUNT, REGION = "123456789012", "us-east-1"
TABLE = "picops-bookings"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:picops-booking.fifo"


@dataclass
class FakeContext:
    function: str
    remaining_ms: int = 30_000

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:picops-{self.function}:live"

    @property
    def function_name(self) -> str:
        return f"picops-{self.function}"

    aws_request_id: str = "req-1"
    memory_limit_in_mb: int = 512

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


API_CONTEXT = FakeContext("booking-api")
INVENTORY_CONTEXT = FakeContext("inventory")
PAYMENT_CONTEXT = FakeContext("payment")


def create_table(dynamodb: Any, name: str = TABLE) -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def post_event(body: Any, *, raw: str | None = None) -> dict[str, Any]:
    event = load_event("apigw_http_v2_post_bookings.json")
    event["body"] = raw if raw is not None else json.dumps(body)
    return event


def get_event(booking_id: str) -> dict[str, Any]:
    event = load_event("apigw_http_v2_get_booking.json")
    event["rawPath"] = f"/bookings/{booking_id}"
    event["requestContext"]["http"]["path"] = f"/bookings/{booking_id}"
    event["pathParameters"] = {"id": booking_id}
    return event


def booking_body(
    event: str, seat: str, customer: str, token: str = "tok_visa", **extra: Any
) -> dict[str, Any]:
    return {"event_id": event, "seat_id": seat, "customer_id": customer, "payment_token": token, **extra}


@dataclass
class Message:
    message_id: str
    body: str
    group: str
    dedup: str
    receives: int = 0


def sqs_event(messages: list[Message], queue: str) -> dict[str, Any]:
    template = load_event("sqs_fifo_booking.json")["Records"][0]
    records = []
    for seq, m in enumerate(messages):
        record = copy.deepcopy(template)
        record["messageId"] = m.message_id
        record["receiptHandle"] = f"rh-{m.message_id}-{m.receives}"
        record["body"] = m.body
        record["attributes"]["ApproximateReceiveCount"] = str(m.receives)
        record["attributes"]["MessageGroupId"] = m.group
        record["attributes"]["MessageDeduplicationId"] = m.dedup
        record["attributes"]["SequenceNumber"] = str(18884633027113205504 + seq)
        record["eventSourceARN"] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:picops-{queue}.fifo"
        records.append(record)
    return {"Records": records}


@dataclass
class FifoQueue:
    """SQS FIFO semantics that matter here: per-group order, one in-flight batch per group, redelivery of
    what was not acknowledged, a DLQ after `max_receive` receives, dedup by MessageDeduplicationId."""

    name: str
    max_receive: int = 3
    messages: list[Message] = field(default_factory=list)
    in_flight: dict[str, Message] = field(default_factory=dict)
    dlq: list[Message] = field(default_factory=list)
    seen_dedup: set[str] = field(default_factory=set)

    def send(self, m: Message, *, dedup: bool = True) -> None:
        for member, value in (("MessageGroupId", m.group), ("MessageDeduplicationId", m.dedup)):
            if not 1 <= len(value) <= 128:  # what SNS FIFO and SQS FIFO refuse (InvalidParameterValue)
                raise ValueError(f"{member} must be 1-128 characters, got {len(value)}")
        if dedup and m.dedup in self.seen_dedup:
            return
        self.seen_dedup.add(m.dedup)
        self.messages.append(m)

    def groups(self) -> list[str]:
        busy = {m.group for m in self.in_flight.values()}
        return sorted({m.group for m in self.messages} - busy)

    def receive(self, group: str | None = None, limit: int = 10) -> list[Message]:
        """The head of one available group (or of the first), up to `limit` messages in order."""
        available = self.groups()
        if not available:
            return []
        chosen = group if group in available else available[0]
        batch = [m for m in self.messages if m.group == chosen][:limit]
        for m in batch:
            self.messages.remove(m)
            m.receives += 1
            self.in_flight[m.message_id] = m
        return batch

    def ack(self, m: Message) -> None:
        self.in_flight.pop(m.message_id, None)

    def release(self, m: Message) -> None:
        """Not acknowledged: back at the head of its group, or to the DLQ after max_receive receives."""
        self.in_flight.pop(m.message_id, None)
        if m.receives >= self.max_receive:
            self.dlq.append(m)
        else:
            self.messages.insert(0, m)
            # keep group order: the released message goes before the rest of its group
            group = [x for x in self.messages if x.group == m.group]
            others = [x for x in self.messages if x.group != m.group]
            group.sort(key=lambda x: x.message_id)
            self.messages = others + group

    def redrive(self, new_id: Callable[[], str]) -> int:
        """Back to the end of the queue, as new messages (a redrive gives them new ids and sequence)."""
        moved = list(self.dlq)
        self.dlq.clear()
        for m in moved:
            self.messages.append(Message(new_id(), m.body, m.group, m.dedup))
        return len(moved)

    def empty(self) -> bool:
        return not self.messages and not self.in_flight


class Harness:
    """The real handlers on moto DynamoDB; BookingTopic replaced by a fan-out into two FifoQueues."""

    def __init__(self, factory: Any, monkeypatch: Any, *, max_receive: int = 3) -> None:
        from picops.handlers import bookings

        self.factory = factory
        self.h = bookings
        self.ddb = factory.client("dynamodb")
        create_table(self.ddb)
        self.store = BookingStore(self.ddb, TABLE)
        self.gateway = SimulatedGateway(self.ddb, TABLE)
        self.inventory = FifoQueue("inventory", max_receive)
        self.payment = FifoQueue("payment", max_receive)
        self.lost_publishes = 0
        self.fail_next_publish = False
        self.now = 1_700_000_000.0
        self._ids = itertools.count()
        monkeypatch.setenv("AWS_REGION", REGION)
        monkeypatch.setenv("PICOPS_BOOKINGS__UNKNOWN_RETRIES", "0")
        monkeypatch.setattr(bookings, "clock", lambda: self.now)
        _env.reset()
        monkeypatch.setattr(bookings, "_publisher", lambda account: self.publish)

    def close(self) -> None:
        _env.reset()

    def publish(self, message: BookingMessage) -> None:
        if self.fail_next_publish:
            self.fail_next_publish = False
            self.lost_publishes += 1
            raise ConnectionError("publish lost (simulated)")
        body = json.dumps(message.as_dict(), sort_keys=True)
        for queue in (self.inventory, self.payment):
            queue.send(Message(self.new_message_id(), body, message.group_id(), message.booking_id))

    def new_message_id(self) -> str:
        return f"{next(self._ids):08d}-{uuid.uuid4().hex[:8]}"

    # -- the API -------------------------------------------------------------------------------------------

    def book(
        self, event: str, seat: str, customer: str, token: str = "tok_visa", **extra: Any
    ) -> dict[str, Any]:
        response = self.h.api_handler(
            post_event(booking_body(event, seat, customer, token, **extra)), API_CONTEXT
        )
        assert response["statusCode"] == 202, response
        return json.loads(response["body"])  # type: ignore[no-any-return]

    def get(self, booking_id: str) -> tuple[int, dict[str, Any]]:
        response = self.h.api_handler(get_event(booking_id), API_CONTEXT)
        return response["statusCode"], json.loads(response["body"])

    # -- the consumers -----------------------------------------------------------------------------------

    def deliver(
        self, queue: FifoQueue, group: str | None = None, *, crash: bool = False, limit: int = 10
    ) -> int:
        """Hand one batch to its consumer; `crash`: the handler ran but its response never reached SQS."""
        batch = queue.receive(group, limit)
        if not batch:
            return 0
        handler, context = (
            (self.h.inventory_handler, INVENTORY_CONTEXT)
            if queue is self.inventory
            else (self.h.payment_handler, PAYMENT_CONTEXT)
        )
        try:
            response = handler(sqs_event(batch, queue.name), context)
        except Exception:
            response = None
        failed = set() if response is None else {f["itemIdentifier"] for f in response["batchItemFailures"]}
        for m in batch:
            if crash or response is None or m.message_id in failed:
                queue.release(m)
            else:
                queue.ack(m)
        return len(batch)

    def drain(self, *, max_rounds: int = 500) -> None:
        for _ in range(max_rounds):
            if self.inventory.empty() and self.payment.empty():
                return
            moved = self.deliver(self.inventory) + self.deliver(self.payment)
            if not moved:
                self.now += 3600  # let leases expire
        raise AssertionError("queues did not drain")
