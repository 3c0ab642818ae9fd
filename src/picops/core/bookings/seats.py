"""`advance(seat)`: the one deterministic, idempotent step both consumers take.

The holder of a seat is the lowest position in its line whose payment has not failed. `advance` reads the
seat and its line (strongly consistent) and, if the seat is free or held by someone else, writes that
holder with a condition on the seat's version, so concurrent or repeated calls converge on the same answer
and a stale reader never overwrites a newer decision. It never touches a seat that is PAYING or SOLD:
a payment in flight is never pre-empted. Delivery order plays no part; only the table decides.

The seat item alone decides most messages, so it is read first and the line only when it does not (see
`decided`): a seat HELD, PAYING or SOLD needs nothing from `advance`.
"""

from __future__ import annotations

import dataclasses

from picops.core.bookings.models import Seat, SeatState
from picops.core.bookings.store import MAX_CONTENTION_RETRIES, BookingStore, Contention

# A seat in these states is left alone by `advance`. HELD included: a holder is only ever written as the
# first eligible entry of a line read at the version the write is conditional on, entries are only appended
# after it, and an entry only fails while the seat is PAYING for it, so HELD by X means X is still first.
DECIDED = (SeatState.HELD, SeatState.PAYING, SeatState.SOLD)


def decided(head: Seat | None) -> bool:
    """Whether the seat item alone answers `advance`: HELD, PAYING or SOLD. Safe on a stale (eventually
    consistent) read: SOLD is final; a stale HELD or PAYING means its holder's payment consumer is (or was)
    at work, and that consumer advances the seat itself when the payment is declined, so leaving the seat
    alone here loses nothing (the inventory consumer only shows the holder early; no rule depends on it)."""
    return head is not None and head.state in DECIDED


def advance(store: BookingStore, event_id: str, seat_id: str) -> Seat | None:
    """Bring the seat to the holder its line says it must have; returns the seat as it now is (from the
    seat item alone when that decides it: its `line` is then empty)."""
    head = store.load_head(event_id, seat_id)
    if decided(head):
        return head
    return advance_line(store, event_id, seat_id)


def advance_line(store: BookingStore, event_id: str, seat_id: str) -> Seat | None:
    """`advance` from a strongly consistent read of the seat and its whole line."""
    for _ in range(MAX_CONTENTION_RETRIES):
        seat = store.load_seat(event_id, seat_id)
        if seat is None or seat.state in (SeatState.PAYING, SeatState.SOLD):
            return seat
        want = seat.first_eligible()
        if want is None:
            if seat.state is SeatState.AVAILABLE and seat.holder is None:
                return seat
        elif seat.state is SeatState.HELD and seat.holder == want.booking_id:
            return seat
        if store.set_holder(seat, want):
            # The write was conditional on the version read: the seat is now exactly this (no read back).
            return dataclasses.replace(
                seat,
                state=SeatState.AVAILABLE if want is None else SeatState.HELD,
                holder=None if want is None else want.booking_id,
                lease_until=0.0,
                version=seat.version + 1,
            )
    raise Contention(f"seat {event_id}/{seat_id}: advance kept losing to concurrent writers")
