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
    """`published`: nothing is left for the outbox sweep (published, or nothing to publish)."""

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
    failed one is left to the outbox sweep (the booking is accepted and keeps its place either way).

    A booking accepted on a seat already SOLD is not published: SOLD is final, so it is LOST from the
    start and neither consumer would find anything to do for it (its pointer has no outbox marker)."""
    accepted = store.accept(request, request.amount or default_amount)
    if accepted.sold:
        return Receipt(accepted.booking_id, BookingState.LOST.value, accepted.position, published=True)
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
    return Receipt(accepted.booking_id, BookingState.QUEUED.value, accepted.position, published)


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
