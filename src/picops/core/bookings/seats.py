"""`advance(seat)`: the one deterministic, idempotent step both consumers take.

The holder of a seat is the lowest position in its line whose payment has not failed. `advance` reads the
seat and its line (strongly consistent) and, if the seat is free or held by someone else, writes that
holder with a condition on the seat's version, so concurrent or repeated calls converge on the same answer
and a stale reader never overwrites a newer decision. It never touches a seat that is PAYING or SOLD:
a payment in flight is never pre-empted. Delivery order plays no part; only the table decides.

The first read is one page (`BookingStore.load_first`): the seat item decides most messages by itself, and
a short line comes whole with it; the rest of a long line is read only when the seat item does not decide.
"""

from __future__ import annotations

import dataclasses

from picops.core.bookings.models import Seat, SeatState
from picops.core.bookings.store import MAX_CONTENTION_RETRIES, BookingStore, Contention

# A seat in these states is left alone by `advance`. HELD included: a holder is only ever written as the
# first eligible entry of a line read at the version the write is conditional on, entries are only appended
# after it, and an entry only fails while the seat is PAYING for it, so HELD by X means X is still first.
DECIDED = (SeatState.HELD, SeatState.PAYING, SeatState.SOLD)


def advance(store: BookingStore, event_id: str, seat_id: str) -> Seat | None:
    """Bring the seat to the holder its line says it must have; returns the seat as it now is (its `line`
    may hold only the first page of a long line when the seat item alone decided)."""
    first, complete = store.load_first(event_id, seat_id)
    if first is None or first.state in DECIDED:
        return first
    return advance_line(store, event_id, seat_id, first if complete else None)


def advance_line(store: BookingStore, event_id: str, seat_id: str, seat: Seat | None = None) -> Seat | None:
    """`advance` from `seat` (the seat and its whole line, read strongly), or from a new read of them."""
    for _ in range(MAX_CONTENTION_RETRIES):
        if seat is None:
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
        seat = None  # someone changed the seat since it was read: read it again
    raise Contention(f"seat {event_id}/{seat_id}: advance kept losing to concurrent writers")
