"""A booking's or a seat's records: when each booking joined the seat's line, every charge attempt of the
bookings that decided the seat (the gateway ledger, `CHARGES#<booking>`), and the seat as it stands.

A booking's trace takes in the bookings ahead of it on its seat: their declined charges are why the seat
reached it (docs/bookings.md, "A decline passes the seat on").
"""

from __future__ import annotations

from typing import Any

from picops.core.bookings.models import BookingState, LineEntry, Seat, SeatState
from picops.core.bookings.payments import ChargeOutcome, charges_pk
from picops.core.bookings.store import BookingStore
from picops.core.trace.timeline import Entry, Timeline
from picops.errors import ResourceMissing

SOURCE = "BookingsTable"


def charge_attempts(store: BookingStore, booking_id: str) -> list[Entry]:
    """One entry per gateway call for the booking (the ledger's ATTEMPT items), with its outcome."""
    entries: list[Entry] = []
    for page in store.ddb.get_paginator("query").paginate(
        TableName=store.table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": charges_pk(booking_id)}},
        ConsistentRead=True,
    ):
        for item in page.get("Items", []):
            if "#ATTEMPT#" not in item["sk"]["S"]:
                continue
            outcome = item.get("outcome", {}).get("S", "?")
            entries.append(
                Entry(
                    int(float(item["at"]["N"]) * 1000),
                    SOURCE,
                    f"charge {outcome.upper()} for booking {booking_id}",
                    {
                        "booking_id": booking_id,
                        "outcome": outcome,
                        "amount": int(item.get("amount", {}).get("N", "0")),
                        "idempotency_key": item.get("idempotency_key", {}).get("S"),
                    },
                )
            )
    return entries


def _accepted(seat: Seat, entry: LineEntry) -> Entry:
    return Entry(
        entry.created_ms,
        SOURCE,
        f"booking {entry.booking_id} accepted at position {entry.position}",
        {
            "booking_id": entry.booking_id,
            "position": entry.position,
            "customer_id": entry.customer_id,
            "event_id": seat.event_id,
            "seat_id": seat.seat_id,
        },
    )


def _seat_state(seat: Seat) -> dict[str, Any]:
    return {
        **seat.as_dict(),
        "line": [
            {"booking_id": e.booking_id, "position": e.position, "state": seat.booking_state(e).value}
            for e in seat.line
        ],
    }


def _approvals(entries: list[Entry], booking_id: str) -> int:
    return sum(
        1
        for e in entries
        if e.fields.get("booking_id") == booking_id
        and e.fields.get("outcome") == ChargeOutcome.APPROVED.value
    )


def _load(store: BookingStore, event_id: str, seat_id: str) -> Seat:
    seat = store.load_seat(event_id, seat_id)
    if seat is None:
        raise ResourceMissing(f"no seat {event_id}/{seat_id} in {store.table}")
    return seat


def trace_booking(store: BookingStore, booking_id: str) -> Timeline:
    pointer = store.pointer(booking_id)
    if pointer is None:
        raise ResourceMissing(f"no booking {booking_id} in {store.table}")
    seat = _load(store, pointer.event_id, pointer.seat_id)
    mine = seat.entry(booking_id)
    if mine is None:
        raise ResourceMissing(
            f"booking {booking_id} is not in seat {pointer.event_id}/{pointer.seat_id}'s line"
        )
    timeline = Timeline(f"booking {booking_id}", state={"booking_id": booking_id, "seat": _seat_state(seat)})
    timeline.add([_accepted(seat, mine)])
    # The bookings ahead of this one decided whether the seat ever reached it.
    for entry in seat.line:
        if entry.position <= mine.position:
            timeline.add(charge_attempts(store, entry.booking_id))
    timeline.verdict, timeline.ok = booking_verdict(seat, mine, _approvals(timeline.entries, booking_id))
    return timeline


def booking_verdict(seat: Seat, entry: LineEntry, approvals: int) -> tuple[str, bool]:
    state = seat.booking_state(entry)
    if approvals > 1:
        return f"FAILED: charged {approvals} times", False
    if state is BookingState.PAID:
        return "charged once; seat SOLD to this booking", approvals == 1
    if state is BookingState.PAYMENT_FAILED:
        return "FAILED: payment declined; seat passed on", False
    if state is BookingState.LOST:
        return f"not charged; seat SOLD to booking {seat.holder}", approvals == 0
    return f"in progress: {state.value} (seat {seat.state.value})", True


def trace_seat(store: BookingStore, event_id: str, seat_id: str) -> Timeline:
    seat = _load(store, event_id, seat_id)
    timeline = Timeline(f"seat {event_id}/{seat_id}", state={"seat": _seat_state(seat)})
    for entry in seat.line:
        timeline.add([_accepted(seat, entry)])
        timeline.add(charge_attempts(store, entry.booking_id))
    timeline.verdict, timeline.ok = seat_verdict(seat, timeline.entries)
    return timeline


def seat_verdict(seat: Seat, entries: list[Entry]) -> tuple[str, bool]:
    charged = {e.booking_id: _approvals(entries, e.booking_id) for e in seat.line}
    twice = [b for b, n in charged.items() if n > 1]
    if twice:
        return f"FAILED: booking {twice[0]} charged {charged[twice[0]]} times", False
    paid = [b for b, n in charged.items() if n == 1]
    if seat.state is SeatState.SOLD:
        if paid == [seat.holder]:
            return f"charged once; seat SOLD to booking {seat.holder}", True
        return f"FAILED: seat SOLD to {seat.holder} but charged bookings are {paid}", False
    if paid:
        return f"FAILED: seat {seat.state.value} but booking {paid[0]} was charged", False
    return f"in progress: seat {seat.state.value}" + (f", held by {seat.holder}" if seat.holder else ""), True
