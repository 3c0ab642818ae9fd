"""The invariant checker reports each rule's breach (hand-built seats and ledgers; no AWS)."""

from __future__ import annotations

from picops.core.bookings.checker import check_seat
from picops.core.bookings.models import LineEntry, Seat, SeatState
from picops.core.bookings.payments import ChargeRecord

IDS = [f"01HRZ8M2Q3W4E5R6T7Y8V9A0B{c}" for c in "PQRS"]


def _line(*failed: bool) -> tuple[LineEntry, ...]:
    return tuple(LineEntry(IDS[i], i + 1, f"c{i}", "tok", 1000, 0, failed=f) for i, f in enumerate(failed))


def _charge(b: str, attempts: int = 1, approvals: int = 0, declines: int = 0) -> list[ChargeRecord]:
    return [ChargeRecord(b, f"booking-{b}", attempts, approvals, declines)]


def _rules(
    seat: Seat, charges: dict[str, list[ChargeRecord]], *, drained: bool = False, now: float = 0
) -> list[str]:
    return sorted({v.rule for v in check_seat(seat, charges, now=now, drained=drained)})


def test_a_correct_decided_seat_has_no_violation() -> None:
    seat = Seat("e", "s", SeatState.SOLD, IDS[1], 0, 5, 3, _line(True, False, False))
    charges = {IDS[0]: _charge(IDS[0], declines=1), IDS[1]: _charge(IDS[1], approvals=1)}
    assert _rules(seat, charges, drained=True) == []
    assert [seat.booking_state(e).value for e in seat.line] == ["PAYMENT_FAILED", "PAID", "LOST"]


def test_each_rule_is_reported() -> None:
    line = _line(False, False)
    # Two bookings with approvals; the holder is not the first; the second charged while not holder.
    seat = Seat("e", "s", SeatState.SOLD, IDS[1], 0, 5, 2, line)
    charges = {IDS[0]: _charge(IDS[0], approvals=1), IDS[1]: _charge(IDS[1], approvals=2)}
    assert _rules(seat, charges) == [
        "charge-holder",
        "charged-once",
        "first-wins",
        "no-charge-lost-or-queued",
        "one-paid",
        "sold-iff-paid",
    ]
    # SOLD without an approval for the holder.
    sold = Seat("e", "s", SeatState.SOLD, IDS[0], 0, 2, 1, _line(False))
    assert _rules(sold, {}) == ["sold-iff-paid"]
    # Failed without a decline: advanced on unknown.
    failed = Seat("e", "s", SeatState.HELD, IDS[1], 0, 2, 2, _line(True, False))
    assert _rules(failed, {IDS[0]: _charge(IDS[0])}) == ["declined-before-failed"]
    # A QUEUED booking charged.
    queued = Seat("e", "s", SeatState.HELD, IDS[0], 0, 2, 2, _line(False, False))
    assert _rules(queued, {IDS[1]: _charge(IDS[1])}) == ["no-charge-lost-or-queued"]


def test_stuck_seats_only_once_drained() -> None:
    available = Seat("e", "s", SeatState.AVAILABLE, None, 0, 1, 1, _line(False))
    assert _rules(available, {}) == []
    assert _rules(available, {}, drained=True) == ["stuck"]
    paying = Seat("e", "s", SeatState.PAYING, IDS[0], 100.0, 3, 1, _line(False))
    attempt = {IDS[0]: _charge(IDS[0])}
    assert _rules(paying, attempt, drained=True, now=50) == []  # lease still running
    assert _rules(paying, attempt, drained=True, now=150) == ["stuck"]
