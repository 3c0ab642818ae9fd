"""The three booking rules hold under any interleaving of the two consumers (Hypothesis stateful test).

The real handlers (`api_handler`, `inventory_handler`, `payment_handler`) run against moto DynamoDB; the SNS
fan-out and the two SQS FIFO queues are a model (tests/bookings_support.py) that Hypothesis drives: it
books seats with approving, declining and timing-out cards, delivers either queue's next batch in any order,
re-delivers duplicates, loses publishes, crashes a handler after its writes and before the ack (the message
comes back), parks messages in a DLQ and redrives them late, and lets leases expire. After every step the
invariant checker must find nothing, and every charge must have been made for the seat's holder at that
moment. At the end everything is drained and each seat must be sold to the first booking whose card pays.

CI runs the `ci` profile; `HYPOTHESIS_PROFILE=bookings-deep` runs many more, longer examples.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from picops.core.bookings import republish_pending
from picops.core.bookings.checker import check_seat
from picops.core.bookings.models import SeatState
from picops.core.bookings.payments import ChargeOutcome, read_charges
from tests.bookings_support import TABLE, Harness

settings.register_profile(
    "bookings-ci",
    max_examples=int(os.environ.get("BOOKINGS_EXAMPLES", "50")),
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.register_profile(
    "bookings-deep",
    max_examples=2000,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "bookings-ci")
if PROFILE not in ("bookings-ci", "bookings-deep"):
    PROFILE = "bookings-ci"

SEATS = ("S1", "S2")
TOKENS = ("tok_visa", "tok_decline_card", "tok_timeout")


class GatewayCrash(Exception):
    pass


class BookingMachine(RuleBasedStateMachine):
    factory: Any = None
    monkeypatch: Any = None

    def __init__(self) -> None:
        super().__init__()
        self.mp = pytest.MonkeyPatch()
        self.pipe = Harness(self.factory, self.mp, max_receive=2)
        self.tokens: dict[str, tuple[str, int, str]] = {}  # booking -> (seat, position, token)
        self.sent: list[Any] = []
        self.crash_next_charge = False
        self.wrong_charges: list[str] = []
        self._wrap_gateway()

    def _wrap_gateway(self) -> None:
        from picops.handlers import bookings

        real_load = bookings.load_gateway
        machine = self

        class Audited:
            def __init__(self, inner: Any) -> None:
                self.inner = inner

            def charge(self, booking_id: str, amount: int, token: str, key: str) -> ChargeOutcome:
                seat_id = machine.tokens[booking_id][0]
                seat = machine.pipe.store.load_seat("ev", seat_id)
                if seat is None or seat.holder != booking_id or seat.state is not SeatState.PAYING:
                    machine.wrong_charges.append(f"{booking_id} charged while seat was {seat}")
                outcome: ChargeOutcome = self.inner.charge(booking_id, amount, token, key)
                if machine.crash_next_charge:
                    machine.crash_next_charge = False
                    raise GatewayCrash("function died after the gateway answered")
                return outcome

        self.mp.setattr(bookings, "load_gateway", lambda *a: Audited(real_load(*a)))

    def teardown(self) -> None:
        try:
            self.pipe.ddb.delete_table(TableName=TABLE)
        finally:
            self.pipe.close()
            self.mp.undo()

    # -- rules ---------------------------------------------------------------------------------------------

    @rule(seat=st.sampled_from(SEATS), token=st.sampled_from(TOKENS), lose=st.booleans())
    def book(self, seat: str, token: str, lose: bool) -> None:
        self.pipe.fail_next_publish = lose and len(self.tokens) % 3 == 0
        receipt = self.pipe.book("ev", seat, f"c{len(self.tokens)}", token)
        self.tokens[receipt["booking_id"]] = (seat, receipt["position"], token)
        self.sent = [*self.pipe.inventory.messages, *self.pipe.payment.messages]

    @rule(
        payment=st.booleans(),
        seat=st.sampled_from(SEATS),
        crash=st.booleans(),
        limit=st.integers(1, 3),
    )
    def deliver(self, payment: bool, seat: str, crash: bool, limit: int) -> None:
        queue = self.pipe.payment if payment else self.pipe.inventory
        self.pipe.deliver(queue, f"ev/{seat}", crash=crash, limit=limit)

    @precondition(lambda self: bool(self.tokens))
    @rule(payment=st.booleans(), pick=st.integers(0, 50))
    def duplicate(self, payment: bool, pick: int) -> None:
        """At-least-once: a copy of an earlier message, past SNS/SQS deduplication."""
        from tests.bookings_support import Message

        queue = self.pipe.payment if payment else self.pipe.inventory
        booking = sorted(self.tokens)[pick % len(self.tokens)]
        seat, position, _ = self.tokens[booking]
        body = json.dumps({"booking_id": booking, "event_id": "ev", "position": position, "seat_id": seat})
        queue.send(Message(self.pipe.new_message_id(), body, f"ev/{seat}", booking), dedup=False)

    @rule()
    def arm_gateway_crash(self) -> None:
        self.crash_next_charge = True

    @rule(payment=st.booleans())
    def redrive_late(self, payment: bool) -> None:
        queue = self.pipe.payment if payment else self.pipe.inventory
        queue.redrive(self.pipe.new_message_id)

    @rule()
    def republish(self) -> None:
        republish_pending(self.pipe.store, self.pipe.publish, older_than_s=0, clock=lambda: self.pipe.now)

    @rule(seconds=st.sampled_from([1.0, 29.0, 31.0, 600.0]))
    def tick(self, seconds: float) -> None:
        self.pipe.now += seconds

    # -- invariants ------------------------------------------------------------------------------------------

    def _check(self, *, drained: bool) -> None:
        assert self.wrong_charges == []
        for seat_id in SEATS:
            seat = self.pipe.store.load_seat("ev", seat_id)
            if seat is None:
                continue
            charges = {e.booking_id: read_charges(self.pipe.ddb, TABLE, e.booking_id) for e in seat.line}
            violations = check_seat(seat, charges, now=self.pipe.now, drained=drained)
            assert violations == [], violations
            # Positions are the order of acceptance: 1..n, no gaps, no repeats.
            assert [e.position for e in seat.line] == list(range(1, len(seat.line) + 1))

    @invariant()
    def rules_hold(self) -> None:
        self._check(drained=False)

    def finish(self) -> None:
        """Everything delivered, redriven and republished: each seat went to its first paying booking."""
        pipe = self.pipe
        self.crash_next_charge = False
        for _ in range(20):
            pipe.now += 3600  # a redelivery comes after the visibility timeout, past any lease
            republish_pending(pipe.store, pipe.publish, older_than_s=0, clock=lambda: pipe.now)
            pipe.inventory.redrive(pipe.new_message_id)
            pipe.payment.redrive(pipe.new_message_id)
            pipe.drain()
            if not pipe.inventory.dlq and not pipe.payment.dlq:
                break
        self._check(drained=True)
        for seat_id in SEATS:
            line = sorted((p, b, t) for b, (s, p, t) in self.tokens.items() if s == seat_id)
            if not line:
                continue
            seat = pipe.store.load_seat("ev", seat_id)
            assert seat is not None
            winners = [b for _, b, t in line if not t.startswith("tok_decline")]
            if winners:
                assert seat.state is SeatState.SOLD, (seat, line)
                assert seat.holder == winners[0], (seat, line)
            else:
                assert seat.state is SeatState.AVAILABLE
                assert seat.holder is None
            for _, b, _t in line:
                approved = sum(c.approvals for c in read_charges(pipe.ddb, TABLE, b))
                assert approved == (1 if winners and b == winners[0] else 0)


def test_booking_rules_hold_under_any_interleaving(aws: Any) -> None:
    class Machine(BookingMachine):
        factory = aws

        def teardown(self) -> None:
            try:
                self.finish()
            finally:
                super().teardown()

    Machine.TestCase.settings = settings.get_profile(PROFILE)
    Machine.TestCase().runTest()
