"""The booking API's logic: accept a request (position, then publish), and describe a booking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from picops.core.bookings.models import BookingMessage, BookingRequest, BookingState
from picops.core.bookings.outbox import Publisher, publish
from picops.core.bookings.payments import read_charges
from picops.core.bookings.store import BookingStore


@dataclass(frozen=True)
class Receipt:
    booking_id: str
    status: str
    position: int
    published: bool

    def as_dict(self) -> dict[str, Any]:
        return {"booking_id": self.booking_id, "status": self.status, "position": self.position}


def submit(
    store: BookingStore, publisher: Publisher, request: BookingRequest, *, default_amount: int
) -> Receipt:
    """Accept: the position is fixed by the table write; the publish only triggers the consumers, and a
    failed one is left to the outbox sweep (the booking is accepted and keeps its place either way)."""
    accepted = store.accept(request, request.amount or default_amount)
    message = BookingMessage(
        booking_id=accepted.booking_id,
        event_id=accepted.event_id,
        seat_id=accepted.seat_id,
        position=accepted.position,
    )
    published = True
    try:
        publish(store, publisher, message)
    except Exception:
        published = False
    status = BookingState.LOST if accepted.sold else BookingState.QUEUED
    return Receipt(accepted.booking_id, status.value, accepted.position, published)


def describe(store: BookingStore, booking_id: str) -> dict[str, Any] | None:
    """`GET /bookings/{id}`: state, position, seat and charges; None when there is no such booking."""
    pointer = store.pointer(booking_id)
    if pointer is None:
        return None
    seat = store.load_seat(pointer.event_id, pointer.seat_id)
    entry = seat.entry(booking_id) if seat else None
    if seat is None or entry is None:
        return None
    charges = read_charges(store.ddb, store.table, booking_id)
    return {
        "booking_id": booking_id,
        "status": seat.booking_state(entry).value,
        "position": entry.position,
        "event_id": pointer.event_id,
        "seat_id": pointer.seat_id,
        "seat": {"state": seat.state.value, "holder": seat.holder},
        "customer_id": entry.customer_id,
        "amount": entry.amount,
        "published": pointer.outbox_at is None,
        "charges": {
            "attempts": sum(c.attempts for c in charges),
            "approved": sum(c.approvals for c in charges),
            "declined": sum(c.declines for c in charges),
        },
    }
