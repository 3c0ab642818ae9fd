"""The invariant checker behind `picops bookings inspect` (and the property tests).

It reads what the table says (seats, lines, the gateway's ledger) and reports every breach of the three
booking rules, as the JSON contract of `bookings inspect` shapes them. Rules checked:

- one-paid: at most one booking per seat has an approved charge.
- sold-iff-paid: a seat is SOLD iff its holder has an approved charge; no approval outside the holder.
- first-wins: the holder of a SOLD (or PAYING/HELD) seat is the lowest position not PAYMENT_FAILED.
- charge-holder: every booking charged was the holder at that moment: all lower positions had failed
  payment, and it is PAYING, PAID or PAYMENT_FAILED now.
- charged-once: no booking has more than one approved charge.
- no-charge-lost-or-queued: no charge attempt for a LOST or QUEUED booking.
- declined-before-failed: a PAYMENT_FAILED booking has a declined charge (never advanced on unknown).
- stuck (only once InventoryQueue and PaymentQueue are drained): QUEUED bookings on a seat nobody is
  paying for (AVAILABLE or HELD), or PAYING past its lease.
- unpublished: a booking whose publish was never confirmed, older than `[bookings] republish_after_s`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from picops.core.bookings.models import BookingState, Seat, SeatState
from picops.core.bookings.payments import ChargeRecord, read_charges
from picops.core.bookings.store import BookingStore, Pointer

SOURCE_QUEUES = ("InventoryQueue", "PaymentQueue")


@dataclass(frozen=True)
class Violation:
    rule: str
    event_id: str
    seat_id: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "event_id": self.event_id, "seat_id": self.seat_id, "detail": self.detail}


@dataclass(frozen=True)
class QueueCount:
    logical: str
    visible: int
    in_flight: int

    def as_dict(self) -> dict[str, Any]:
        return {"logical": self.logical, "visible": self.visible, "in_flight": self.in_flight}


@dataclass(frozen=True)
class DlqMessage:
    logical: str
    message_id: str
    booking_id: str | None
    event_id: str | None
    seat_id: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "logical": self.logical,
            "message_id": self.message_id,
            "booking_id": self.booking_id,
            "event_id": self.event_id,
            "seat_id": self.seat_id,
        }


@dataclass
class Report:
    queues: list[QueueCount]
    seats: list[dict[str, Any]]
    violations: list[Violation]
    dlq_messages: list[DlqMessage] = field(default_factory=list)
    unpublished: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def as_dict(self) -> dict[str, Any]:
        return {
            "queues": [q.as_dict() for q in self.queues],
            "seats": self.seats,
            "violations": [v.as_dict() for v in self.violations],
            "dlq_messages": [m.as_dict() for m in self.dlq_messages],
            "unpublished": self.unpublished,
        }


def check_seat(
    seat: Seat, charges: dict[str, list[ChargeRecord]], *, now: float, drained: bool
) -> list[Violation]:
    out: list[Violation] = []

    def bad(rule: str, detail: str) -> None:
        out.append(Violation(rule, seat.event_id, seat.seat_id, detail))

    def approvals(b: str) -> int:
        return sum(c.approvals for c in charges.get(b, []))

    def attempts(b: str) -> int:
        return sum(c.attempts for c in charges.get(b, []))

    states = {e.booking_id: seat.booking_state(e) for e in seat.line}
    approved = [e.booking_id for e in seat.line if approvals(e.booking_id) > 0]
    if len(approved) > 1:
        bad("one-paid", f"{len(approved)} bookings have approved charges: {', '.join(approved)}")
    holder = seat.holder
    if seat.state is SeatState.SOLD and (holder is None or approvals(holder) == 0):
        bad("sold-iff-paid", f"seat is SOLD but its holder {holder} has no approved charge")
    for b in approved:
        if b == holder and seat.state is SeatState.SOLD:
            continue
        if b == holder and seat.state is SeatState.PAYING and not drained:
            continue  # approved, about to be marked SOLD
        bad(
            "sold-iff-paid",
            f"{b} has an approved charge but the seat is {seat.state.value} (holder {holder})",
        )
    first = seat.first_eligible()
    if holder is not None and (first is None or first.booking_id != holder):
        bad(
            "first-wins",
            f"holder {holder} is not the lowest position not PAYMENT_FAILED "
            f"({first.booking_id if first else 'none'})",
        )
    failed_so_far = True
    for entry in seat.line:
        b, state = entry.booking_id, states[entry.booking_id]
        n_attempts = attempts(b)
        if n_attempts:
            if state in (BookingState.LOST, BookingState.QUEUED):
                bad("no-charge-lost-or-queued", f"{b} ({state.value}) has {n_attempts} charge attempt(s)")
            elif not failed_so_far or state is BookingState.HOLDER:
                bad("charge-holder", f"{b} was charged while it was not the seat's holder")
        if approvals(b) > 1:
            bad("charged-once", f"{b} has {approvals(b)} approved charges")
        if state is BookingState.PAYMENT_FAILED and not any(c.declines for c in charges.get(b, [])):
            bad("declined-before-failed", f"{b} is PAYMENT_FAILED without a declined charge")
        failed_so_far = failed_so_far and entry.failed
    if drained:
        if seat.state in (SeatState.AVAILABLE, SeatState.HELD) and first is not None:
            bad("stuck", f"{first.booking_id} is next in line but the seat is {seat.state.value}")
        if seat.state is SeatState.PAYING and seat.lease_until <= now:
            bad("stuck", f"PAYING for {holder} past its lease")
    return out


def seat_document(seat: Seat, charges: dict[str, list[ChargeRecord]]) -> dict[str, Any]:
    return {
        "event_id": seat.event_id,
        "seat_id": seat.seat_id,
        "state": seat.state.value,
        "holder": seat.holder,
        "bookings": [
            {
                "booking_id": e.booking_id,
                "position": e.position,
                "state": seat.booking_state(e).value,
                "charges": sum(c.approvals for c in charges.get(e.booking_id, [])),
            }
            for e in seat.line
        ],
    }


def inspect_table(
    store: BookingStore,
    *,
    queues: list[QueueCount],
    dlq_messages: Iterable[DlqMessage] = (),
    event_id: str | None = None,
    seat_id: str | None = None,
    now: float,
    republish_after_s: float,
) -> Report:
    drained = all(q.visible == 0 and q.in_flight == 0 for q in queues if q.logical in SOURCE_QUEUES)
    keys = [
        (e, s)
        for e, s in store.seat_keys()
        if (event_id is None or e == event_id) and (seat_id is None or s == seat_id)
    ]
    seats_out: list[dict[str, Any]] = []
    violations: list[Violation] = []
    for e, s in keys:
        seat = store.load_seat(e, s)
        if seat is None:
            continue
        charges = {x.booking_id: read_charges(store.ddb, store.table, x.booking_id) for x in seat.line}
        seats_out.append(seat_document(seat, charges))
        violations += check_seat(seat, charges, now=now, drained=drained)
    pending: list[Pointer] = store.pending_outbox(now - republish_after_s)
    unpublished = []
    for p in pending:
        if (event_id is None or p.event_id == event_id) and (seat_id is None or p.seat_id == seat_id):
            unpublished.append(p.booking_id)
            violations.append(
                Violation(
                    "unpublished",
                    p.event_id,
                    p.seat_id,
                    f"{p.booking_id}'s publish was never confirmed; run `picops bookings republish`",
                )
            )
    dlq = [
        m
        for m in dlq_messages
        if (event_id is None or m.event_id == event_id) and (seat_id is None or m.seat_id == seat_id)
    ]
    return Report(queues, seats_out, violations, dlq, unpublished)
