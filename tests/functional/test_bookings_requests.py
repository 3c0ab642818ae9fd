"""What each step of a booking costs in DynamoDB requests (counted by a botocore hook on the handlers' own
client): a consumer's first read is one page (the seat item decides most messages, and a short line comes
with it), a booking on a seat already SOLD is decided at acceptance, and a write that succeeded is not read
back (docs/bookings.md, "Requests")."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from picops.core.bookings import BookingRequest, BookingStore
from picops.core.bookings.store import FIRST_PAGE
from tests.bookings_support import INVENTORY_CONTEXT, PAYMENT_CONTEXT, TABLE, Harness, Message, sqs_event


class Calls:
    """DynamoDB calls the handlers make, by operation (the simulated gateway's ledger kept apart)."""

    def __init__(self) -> None:
        self.ops: Counter[str] = Counter()
        self.reads: list[dict[str, Any]] = []

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        pk = params.get("Key", params.get("Item", {})).get("pk", {}).get("S") or params.get(
            "ExpressionAttributeValues", {}
        ).get(":pk", {}).get("S", "")
        if str(pk).startswith("CHARGES#"):
            return
        self.ops[model.name] += 1
        if model.name in ("GetItem", "Query"):
            self.reads.append(params)

    def clear(self) -> None:
        self.ops.clear()
        self.reads.clear()


@pytest.fixture
def pipe(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    harness = Harness(aws, monkeypatch)
    yield harness
    harness.close()


@pytest.fixture
def calls(pipe: Harness) -> Iterator[Calls]:
    from picops.aws import lambda_factory

    counter = Calls()
    client = lambda_factory().client("dynamodb")
    client.meta.events.register("before-parameter-build.dynamodb.*", counter, unique_id="test-calls")
    yield counter
    client.meta.events.unregister("before-parameter-build.dynamodb.*", unique_id="test-calls")


def test_a_booking_on_a_sold_seat_is_lost_at_once_and_never_published(pipe: Harness) -> None:
    a = pipe.book("gala", "A1", "ana")["booking_id"]
    pipe.drain()
    late = pipe.book("gala", "A1", "ben")
    assert (late["status"], late["position"]) == ("LOST", 2)
    assert pipe.inventory.messages == []
    assert pipe.payment.messages == []
    # Nothing left for the outbox sweep, however long one waits.
    assert pipe.store.pending_outbox(pipe.now + 86_400) == []
    status, doc = pipe.get(late["booking_id"])
    assert (status, doc["status"], doc["published"]) == (200, "LOST", True)
    assert pipe.get(a)[1]["status"] == "PAID"


def test_a_booking_on_an_unsold_seat_is_published_with_its_outbox_marker(pipe: Harness) -> None:
    store = BookingStore(pipe.ddb, TABLE, clock=lambda: pipe.now)
    accepted = store.accept(
        BookingRequest(event_id="gala", seat_id="B1", customer_id="c", payment_token="tok_visa"), 1000
    )
    assert not accepted.sold
    assert [p.booking_id for p in store.pending_outbox(pipe.now)] == [accepted.booking_id]


def test_messages_for_a_sold_seat_cost_one_read_however_long_its_line(pipe: Harness, calls: Calls) -> None:
    a = pipe.book("gala", "A1", "ana")["booking_id"]
    for i in range(FIRST_PAGE + 5):  # a line longer than the first read's page
        pipe.book("gala", "A1", f"c{i}")
    pipe.drain()
    calls.clear()
    body = json.dumps({"booking_id": a, "event_id": "gala", "seat_id": "A1", "position": 1})
    for kind, handler, context in (
        ("inventory", pipe.h.inventory_handler, INVENTORY_CONTEXT),
        ("payment", pipe.h.payment_handler, PAYMENT_CONTEXT),
    ):
        event = sqs_event([Message(f"late-{kind}", body, "gala/A1", "late")], kind)
        assert handler(event, context) == {"batchItemFailures": []}
    assert calls.ops == {"Query": 2}
    # One page each, from the seat item (it sorts first in its collection); the rest of the line unread.
    assert all(r["Limit"] == FIRST_PAGE and r["ConsistentRead"] for r in calls.reads)


def test_one_booking_from_request_to_sale_in_eight_requests(pipe: Harness, calls: Calls) -> None:
    pipe.book("gala", "A1", "ana")
    # Accept: the seat's counter, one transaction (seat, line entry, pointer), the outbox confirmation.
    assert calls.ops == {"GetItem": 1, "TransactWriteItems": 1, "UpdateItem": 1}
    calls.clear()
    pipe.deliver(pipe.inventory)
    # The seat and its line in one page (AVAILABLE), the holder written (not read back).
    assert calls.ops == {"Query": 1, "UpdateItem": 1}
    calls.clear()
    pipe.deliver(pipe.payment)
    # The seat and its line (HELD: the holder's card), PAYING, SOLD (not read back).
    assert calls.ops == {"Query": 1, "UpdateItem": 2}
    seat = pipe.store.load_seat("gala", "A1")
    assert seat is not None
    assert seat.state.value == "SOLD"


def test_a_line_longer_than_the_first_page_is_read_whole_before_the_seat_is_decided(pipe: Harness) -> None:
    ids = [pipe.book("gala", "L1", f"c{i}", "tok_decline_card")["booking_id"] for i in range(FIRST_PAGE + 2)]
    winner = pipe.book("gala", "L1", "last")["booking_id"]
    pipe.deliver(pipe.payment, limit=1)
    # Every booking in the first page declined, then the ones past it, then the winner: in one invocation.
    assert pipe.get(winner)[1]["status"] == "PAID"
    assert {pipe.get(b)[1]["status"] for b in ids} == {"PAYMENT_FAILED"}
