"""Payments: the gateway protocol, the simulated gateway, and `settle(seat)`.

`settle` is what the payment consumer runs for any message of a seat: it advances the seat, and while the
holder has not paid it marks the seat PAYING (conditional on holder and version, with a lease), charges the
holder with an idempotency key derived from its booking id, and then either marks the seat SOLD (approved),
or, in one transaction, marks the booking PAYMENT_FAILED and frees the seat, advances, and charges the new
holder in the same invocation (declined). An unknown outcome (timeout, 5xx) leaves the seat PAYING, ends
the lease so the retry reconciles at once, and fails the message: the seat is never advanced on unknown.
A lease past its end is reconciled by charging again with the same key (the gateway answers the first
outcome), never assumed failed.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import botocore.exceptions

from picops.aws_errors import is_conditional_failure
from picops.core.bookings.ids import new_id
from picops.core.bookings.models import LineEntry, Seat, SeatState
from picops.core.bookings.seats import advance_line
from picops.core.bookings.store import BookingStore, Contention


class ChargeOutcome(enum.StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    UNKNOWN = "unknown"


@runtime_checkable
class PaymentGateway(Protocol):
    def charge(self, booking_id: str, amount: int, token: str, idempotency_key: str) -> ChargeOutcome: ...


class SeatBusy(Exception):
    """Another consumer holds the seat's payment lease: retry the message later."""


class PaymentUnknown(Exception):
    """The gateway's answer is unknown: the seat stays PAYING; retry the message (same key)."""


def idempotency_key(booking_id: str) -> str:
    return f"booking-{booking_id}"


def charges_pk(booking_id: str) -> str:
    return f"CHARGES#{booking_id}"


@dataclass(frozen=True)
class ChargeRecord:
    booking_id: str
    key: str
    attempts: int
    approvals: int
    declines: int


class SimulatedGateway:
    """A stand-in gateway whose ledger lives in BookingsTable (`pk = CHARGES#<booking>`), auditable.

    Tokens starting `tok_decline` are declined; `tok_timeout` answers unknown on the first attempt and
    approves a retry with the same key; anything else is approved. The first decided outcome per key is
    final: a repeated charge with the same key answers it again and never approves twice.
    """

    def __init__(self, dynamodb: Any, table: str, *, clock: Callable[[], float] = time.time) -> None:
        self.ddb = dynamodb
        self.table = table
        self.clock = clock

    def _ledger(self, booking_id: str, key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in self.ddb.get_paginator("query").paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :k)",
            ExpressionAttributeValues={":pk": {"S": charges_pk(booking_id)}, ":k": {"S": f"KEY#{key}#"}},
            ConsistentRead=True,
        ):
            items.extend(page.get("Items", []))
        return items

    def charge(self, booking_id: str, amount: int, token: str, idempotency_key: str) -> ChargeOutcome:
        ledger = self._ledger(booking_id, idempotency_key)
        decided = {i["sk"]["S"].rsplit("#", 1)[-1] for i in ledger}
        attempts = sum(1 for i in ledger if "#ATTEMPT#" in i["sk"]["S"])
        if "APPROVAL" in decided:
            outcome = ChargeOutcome.APPROVED
        elif "DECLINE" in decided or token.startswith("tok_decline"):
            outcome = ChargeOutcome.DECLINED
        elif token.startswith("tok_timeout") and attempts == 0:
            outcome = ChargeOutcome.UNKNOWN
        else:
            outcome = ChargeOutcome.APPROVED
        now = self.clock()
        base = {
            "pk": {"S": charges_pk(booking_id)},
            "booking_id": {"S": booking_id},
            "idempotency_key": {"S": idempotency_key},
            "amount": {"N": str(amount)},
            "at": {"N": repr(now)},
        }
        self.ddb.put_item(
            TableName=self.table,
            Item={
                **base,
                "sk": {"S": f"KEY#{idempotency_key}#ATTEMPT#{new_id()}"},
                "outcome": {"S": outcome},
            },
        )
        final = {ChargeOutcome.APPROVED: "APPROVAL", ChargeOutcome.DECLINED: "DECLINE"}.get(outcome)
        if final and final not in decided:
            try:
                self.ddb.put_item(
                    TableName=self.table,
                    Item={**base, "sk": {"S": f"KEY#{idempotency_key}#{final}"}},
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except botocore.exceptions.ClientError as exc:
                if not is_conditional_failure(exc):
                    raise
                # A concurrent attempt decided first: its outcome stands.
                again = {i["sk"]["S"].rsplit("#", 1)[-1] for i in self._ledger(booking_id, idempotency_key)}
                return ChargeOutcome.APPROVED if "APPROVAL" in again else ChargeOutcome.DECLINED
        return outcome


def read_charges(dynamodb: Any, table: str, booking_id: str) -> list[ChargeRecord]:
    """The gateway ledger of one booking, per idempotency key (what `bookings inspect` audits)."""
    per_key: dict[str, list[str]] = {}
    for page in dynamodb.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": charges_pk(booking_id)}},
        ConsistentRead=True,
    ):
        for item in page.get("Items", []):
            key = item.get("idempotency_key", {}).get("S", "")
            per_key.setdefault(key, []).append(item["sk"]["S"])
    return [
        ChargeRecord(
            booking_id=booking_id,
            key=key,
            attempts=sum(1 for s in sks if "#ATTEMPT#" in s),
            approvals=sum(1 for s in sks if s.endswith("#APPROVAL")),
            declines=sum(1 for s in sks if s.endswith("#DECLINE")),
        )
        for key, sks in sorted(per_key.items())
    ]


def load_gateway(path: str, dynamodb: Any, table: str) -> PaymentGateway:
    """`[bookings] gateway`: a dotted path to a class built with (dynamodb client, table name)."""
    module_name, _, attr = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"[bookings] gateway {path!r} cannot be imported: {exc}") from None
    gateway = cls(dynamodb, table)
    if not isinstance(gateway, PaymentGateway):
        raise ValueError(f"[bookings] gateway {path!r} has no charge() method")
    return gateway


@dataclass
class SettleResult:
    seat: Seat | None
    charged: list[tuple[str, ChargeOutcome]] = field(default_factory=list)


def settle(
    store: BookingStore,
    gateway: PaymentGateway,
    event_id: str,
    seat_id: str,
    *,
    lease_s: float,
    unknown_retries: int = 1,
    clock: Callable[[], float] = time.time,
) -> SettleResult:
    """Advance the seat and charge its holder until it is SOLD or its line runs out.

    Raises SeatBusy (another consumer's lease is live), PaymentUnknown (the outcome is unknown; the seat
    stays PAYING) or Contention: each means "fail this message, it will be retried".
    """
    result = SettleResult(_first_look(store, event_id, seat_id, clock()))
    for _ in range(10_000):
        seat = result.seat
        if seat is None or seat.state is SeatState.SOLD or seat.holder is None:
            return result
        now = clock()
        if seat.state is SeatState.PAYING and seat.lease_until > now:
            raise SeatBusy(f"seat {event_id}/{seat_id}: payment of {seat.holder} in progress")
        holder = seat.entry(seat.holder)
        if holder is None:  # a holder outside the line cannot happen; never charge on a guess
            raise Contention(f"seat {event_id}/{seat_id}: holder {seat.holder} is not in its line")
        if not store.start_paying(seat, holder.booking_id, now + lease_s, now):
            result.seat = advance_line(store, event_id, seat_id)  # the seat changed under us: look again
            continue
        outcome = _charge(gateway, holder, unknown_retries, result)
        if outcome is ChargeOutcome.APPROVED and store.mark_sold(seat, holder.booking_id):
            # Conditional on this holder still PAYING: the seat is now SOLD to it, and SOLD is final.
            # (start_paying and mark_sold each added one to the version)
            result.seat = dataclasses.replace(
                seat, state=SeatState.SOLD, lease_until=0.0, version=seat.version + 2
            )
            return result
        if outcome is ChargeOutcome.DECLINED:
            store.mark_declined(seat, holder)
        if outcome is not ChargeOutcome.UNKNOWN:
            # Sold by a reconciler with the same answer, or declined: the next in line is charged in this
            # same invocation. Read the line again: it may have grown since it was read.
            result.seat = advance_line(store, event_id, seat_id)
            continue
        store.end_lease(seat, holder.booking_id, clock())
        raise PaymentUnknown(
            f"seat {event_id}/{seat_id}: payment of {holder.booking_id} has an unknown outcome; "
            "the seat stays PAYING and the retry uses the same idempotency key"
        )
    raise Contention(f"seat {event_id}/{seat_id}: settle did not converge")


def _first_look(store: BookingStore, event_id: str, seat_id: str, now: float) -> Seat | None:
    """The first page of the seat's collection when the seat item decides the message by itself (SOLD:
    nothing to do; PAYING within its lease: busy), else the seat advanced from that page when it holds the
    whole line, or from a full read when it does not."""
    first, complete = store.load_first(event_id, seat_id)
    if first is None or first.state is SeatState.SOLD:
        return first
    if first.state is SeatState.PAYING and first.lease_until > now:
        return first
    return advance_line(store, event_id, seat_id, first if complete else None)


def _charge(
    gateway: PaymentGateway, holder: LineEntry, unknown_retries: int, result: SettleResult
) -> ChargeOutcome:
    key = idempotency_key(holder.booking_id)
    outcome = ChargeOutcome.UNKNOWN
    for _attempt in range(1 + max(0, unknown_retries)):
        outcome = gateway.charge(holder.booking_id, holder.amount, holder.payment_token, key)
        result.charged.append((holder.booking_id, outcome))
        if outcome is not ChargeOutcome.UNKNOWN:
            break
    return outcome
