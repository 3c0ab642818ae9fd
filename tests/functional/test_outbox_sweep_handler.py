"""OutboxSweepFunction's handler on moto: it republishes what is pending, and a booking it cannot publish
fails the run (its Errors alarm) while staying pending for the next one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from picops.core.bookings import BookingMessage, BookingRequest, BookingStore
from picops.core.bookings.outbox import SweepFailed
from picops.handlers import _env, repairs
from tests.bookings_support import TABLE, FakeContext, create_table

CONTEXT = FakeContext("outbox-sweep")


class Topic:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.refuse: set[str] = set()

    def __call__(self, message: BookingMessage) -> None:
        if message.booking_id in self.refuse:
            raise RuntimeError("publish timed out")
        self.sent.append(message.booking_id)


@pytest.fixture
def setup(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[BookingStore, Topic]]:
    ddb = aws.client("dynamodb")
    create_table(ddb)
    topic = Topic()
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("PICOPS_BOOKINGS__REPUBLISH_AFTER_S", "0")
    _env.reset()
    monkeypatch.setattr(repairs, "_publisher", lambda account: topic)
    yield BookingStore(ddb, TABLE), topic
    _env.reset()


def _accept(store: BookingStore, seat: str) -> str:
    request = BookingRequest(event_id="gala", seat_id=seat, customer_id="c", payment_token="tok_visa")
    return store.accept(request, 1000).booking_id


def test_the_sweep_republishes_every_pending_booking_once(setup: tuple[BookingStore, Topic]) -> None:
    store, topic = setup
    first, second = _accept(store, "A1"), _accept(store, "A2")
    result = repairs.outbox_handler({"id": "evt-1"}, CONTEXT)
    assert sorted(result["republished"]) == sorted([first, second])
    assert sorted(topic.sent) == sorted([first, second])
    assert store.pending_outbox(float("inf")) == []
    assert repairs.outbox_handler({"id": "evt-2"}, CONTEXT)["pending"] == []


def test_a_booking_it_cannot_publish_fails_the_run_and_stays_pending(
    setup: tuple[BookingStore, Topic],
) -> None:
    store, topic = setup
    good, stuck = _accept(store, "B1"), _accept(store, "B2")
    topic.refuse.add(stuck)
    with pytest.raises(SweepFailed, match=f"1 of 2 pending booking.*{stuck}"):
        repairs.outbox_handler({"id": "evt-1"}, CONTEXT)
    assert topic.sent == [good]
    assert [p.booking_id for p in store.pending_outbox(float("inf"))] == [stuck]
    topic.refuse.clear()
    assert repairs.outbox_handler({"id": "evt-2"}, CONTEXT)["republished"] == [stuck]
