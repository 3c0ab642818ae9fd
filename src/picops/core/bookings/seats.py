"""`advance(seat)`: the one deterministic, idempotent step both consumers take.

The holder of a seat is the lowest position in its line whose payment has not failed. `advance` reads the
seat and its line (strongly consistent) and, if the seat is free or held by someone else, writes that
holder with a condition on the seat's version, so concurrent or repeated calls converge on the same answer
and a stale reader never overwrites a newer decision. It never touches a seat that is PAYING or SOLD:
a payment in flight is never pre-empted. Delivery order plays no part; only the table decides.
"""

from __future__ import annotations

from picops.core.bookings.models import Seat, SeatState
from picops.core.bookings.store import MAX_CONTENTION_RETRIES, BookingStore, Contention


def advance(store: BookingStore, event_id: str, seat_id: str) -> Seat | None:
    """Bring the seat to the holder its line says it must have; returns the seat as it now is."""
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
            continue  # read back what was written (and anything that raced with it)
    raise Contention(f"seat {event_id}/{seat_id}: advance kept losing to concurrent writers")
