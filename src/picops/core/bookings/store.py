"""BookingsTable layout and every read and write the pipeline makes (one item collection per seat).

    pk = SEAT#<event>#<seat>   sk = #SEAT           the seat: state, holder, lease, version, next_seq
    pk = SEAT#<event>#<seat>   sk = LINE#<position> one booking in the seat's line (10-digit position)
    pk = BOOKING#<id>          sk = #BOOKING        where a booking is (event, seat, position); the outbox
                                                    marker `outbox_at` until its publish is confirmed
    pk = CHARGES#<id>          sk = KEY#<key>#...   the payment gateway's ledger (see payments.py)

A booking's reported state is derived from its seat (see `Seat.booking_state`): only the seat item and the
PAYMENT_FAILED flag of a line entry change after a booking is accepted, so deciding a seat never has to
rewrite the rest of its line (a transaction over a whole line would also be capped at 100 items).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from picops import aws_errors
from picops.core.bookings.ids import new_id
from picops.core.bookings.models import BookingRequest, LineEntry, Seat, SeatState

SEAT_SK = "#SEAT"
BOOKING_SK = "#BOOKING"
LINE_PREFIX = "LINE#"
MAX_CONTENTION_RETRIES = 25
# Items in a consumer's first read: the seat and up to 49 line entries of a few hundred bytes each.
FIRST_PAGE = 50


class Contention(Exception):
    """A conditional write kept losing to concurrent writers (retry the message)."""


def seat_pk(event_id: str, seat_id: str) -> str:
    return f"SEAT#{event_id}#{seat_id}"


def booking_pk(booking_id: str) -> str:
    return f"BOOKING#{booking_id}"


def line_sk(position: int) -> str:
    return f"{LINE_PREFIX}{position:010d}"


def is_conditional_failure(exc: botocore.exceptions.ClientError) -> bool:
    # The store's transactions are cancelled only by their own conditions.
    return aws_errors.is_conditional_failure(exc, transaction=True)


@dataclass(frozen=True)
class Pointer:
    booking_id: str
    event_id: str
    seat_id: str
    position: int
    outbox_at: float | None


@dataclass(frozen=True)
class Accepted:
    booking_id: str
    event_id: str
    seat_id: str
    position: int
    sold: bool


class BookingStore:
    """BookingsTable through one DynamoDB client (passed in; made by picops.aws.ClientFactory)."""

    def __init__(self, dynamodb: Any, table: str, *, clock: Any = time.time) -> None:
        self.ddb = dynamodb
        self.table = table
        self.clock = clock
        self.writes = 0  # conditional writes attempted (items), for the benchmark

    # -- reads ---------------------------------------------------------------------------------------------

    def load_seat(self, event_id: str, seat_id: str) -> Seat | None:
        """The seat and its whole line, strongly consistent (None: nobody asked for this seat yet)."""
        seat_item: dict[str, Any] | None = None
        line: list[LineEntry] = []
        paginator = self.ddb.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": seat_pk(event_id, seat_id)}},
            ConsistentRead=True,
        )
        for page in pages:
            for item in page.get("Items", []):
                sk = item["sk"]["S"]
                if sk == SEAT_SK:
                    seat_item = item
                elif sk.startswith(LINE_PREFIX):
                    line.append(_entry(item))
        if seat_item is None:
            return None
        line.sort(key=lambda e: e.position)
        return _seat(event_id, seat_id, seat_item, tuple(line))

    def load_first(self, event_id: str, seat_id: str) -> tuple[Seat | None, bool]:
        """One strongly consistent page of the seat's collection: the seat item (it sorts first: `#`
        before `L`) and up to FIRST_PAGE - 1 line entries; True when that is the whole line.

        What a consumer reads first: the seat item alone often decides its message (SOLD, PAYING within its
        lease, HELD), and when it does not, a short line is already all here, so most messages cost one
        request and a long line is read past its first page only when it matters.
        """
        response = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": seat_pk(event_id, seat_id)}},
            ConsistentRead=True,
            Limit=FIRST_PAGE,
        )
        items = response.get("Items", [])
        if not items or items[0]["sk"]["S"] != SEAT_SK:
            return None, True
        line = tuple(_entry(i) for i in items[1:] if i["sk"]["S"].startswith(LINE_PREFIX))
        return _seat(event_id, seat_id, items[0], line), "LastEvaluatedKey" not in response

    def pointer(self, booking_id: str) -> Pointer | None:
        item = self.ddb.get_item(
            TableName=self.table,
            Key={"pk": {"S": booking_pk(booking_id)}, "sk": {"S": BOOKING_SK}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        return _pointer(item)

    def seat_keys(self) -> list[tuple[str, str]]:
        """Every seat in the table (a Scan: for `bookings inspect`, not for the request path)."""
        return sorted(
            (item["event_id"]["S"], item["seat_id"]["S"])
            for item in self._scan("sk = :sk", {":sk": {"S": SEAT_SK}}, "event_id, seat_id")
        )

    def pending_outbox(self, older_than: float) -> list[Pointer]:
        """Bookings whose publish was not confirmed before `older_than` (epoch seconds)."""
        items = self._scan(
            "sk = :sk AND attribute_exists(outbox_at) AND outbox_at <= :cut",
            {":sk": {"S": BOOKING_SK}, ":cut": {"N": repr(older_than)}},
            None,
        )
        return sorted((_pointer(i) for i in items), key=lambda p: p.booking_id)

    def _scan(self, filt: str, values: dict[str, Any], projection: str | None) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": filt,
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
        }
        if projection:
            kwargs["ProjectionExpression"] = projection
        out: list[dict[str, Any]] = []
        for page in self.ddb.get_paginator("scan").paginate(**kwargs):
            out.extend(page.get("Items", []))
        return out

    # -- the API's write -----------------------------------------------------------------------------------

    def accept(self, request: BookingRequest, amount: int) -> Accepted:
        """Take the seat's next position and write the line entry and the pointer, in one transaction
        conditional on the position read: the order of acceptance is the order of the line.

        A booking accepted on a seat already SOLD is decided (LOST) at once: its pointer carries no outbox
        marker, as there is nothing for the consumers to do (see `service.submit`)."""
        booking_id = new_id()
        for attempt in range(MAX_CONTENTION_RETRIES):
            # The first read may be stale: a stale next_seq fails the transaction's condition (and the
            # retry reads strongly), and a stale state is an older one; SOLD is final, so a SOLD seen is
            # SOLD now, and a sale not yet seen only costs a publish the consumers find nothing to do for.
            seat = self._seat_counter(request, consistent=attempt > 0)
            current = int(seat["next_seq"]["N"]) if seat else 0
            sold = seat is not None and seat.get("state", {}).get("S") == SeatState.SOLD.value
            position = current + 1
            items = self._accept_items(request, amount, booking_id, seat, position, sold)
            self.writes += 3
            try:
                self.ddb.transact_write_items(TransactItems=items)
            except botocore.exceptions.ClientError as exc:
                if is_conditional_failure(exc):
                    continue  # another request took this position first: read again
                raise
            return Accepted(booking_id, request.event_id, request.seat_id, position, sold)
        raise Contention(f"seat {request.event_id}/{request.seat_id}: too many concurrent bookings")

    def _seat_counter(self, request: BookingRequest, *, consistent: bool) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.ddb.get_item(
            TableName=self.table,
            Key={"pk": {"S": seat_pk(request.event_id, request.seat_id)}, "sk": {"S": SEAT_SK}},
            ConsistentRead=consistent,
            ProjectionExpression="next_seq, #s",
            ExpressionAttributeNames={"#s": "state"},
        ).get("Item")
        return item

    def _counter_write(self, request: BookingRequest, exists: bool, position: int) -> dict[str, Any]:
        """The seat's `next_seq` moved to `position`, conditional on the value read (or the seat created)."""
        pk = seat_pk(request.event_id, request.seat_id)
        if exists:
            return {
                "Update": {
                    "TableName": self.table,
                    "Key": {"pk": {"S": pk}, "sk": {"S": SEAT_SK}},
                    "UpdateExpression": "SET next_seq = :next",
                    "ConditionExpression": "next_seq = :current",
                    "ExpressionAttributeValues": {
                        ":next": {"N": str(position)},
                        ":current": {"N": str(position - 1)},
                    },
                }
            }
        return {
            "Put": {
                "TableName": self.table,
                "Item": {
                    "pk": {"S": pk},
                    "sk": {"S": SEAT_SK},
                    "event_id": {"S": request.event_id},
                    "seat_id": {"S": request.seat_id},
                    "state": {"S": SeatState.AVAILABLE.value},
                    "version": {"N": "0"},
                    "next_seq": {"N": str(position)},
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _accept_items(
        self,
        request: BookingRequest,
        amount: int,
        booking_id: str,
        seat: dict[str, Any] | None,
        position: int,
        sold: bool,
    ) -> list[dict[str, Any]]:
        pk = seat_pk(request.event_id, request.seat_id)
        now = self.clock()
        seat_update = self._counter_write(request, seat is not None, position)
        pointer: dict[str, Any] = {
            "pk": {"S": booking_pk(booking_id)},
            "sk": {"S": BOOKING_SK},
            "booking_id": {"S": booking_id},
            "event_id": {"S": request.event_id},
            "seat_id": {"S": request.seat_id},
            "position": {"N": str(position)},
        }
        if not sold:
            pointer["outbox_at"] = {"N": repr(now)}
        return [
            seat_update,
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        "pk": {"S": pk},
                        "sk": {"S": line_sk(position)},
                        "booking_id": {"S": booking_id},
                        "position": {"N": str(position)},
                        "customer_id": {"S": request.customer_id},
                        "payment_token": {"S": request.payment_token},
                        "amount": {"N": str(amount)},
                        "created_ms": {"N": str(int(now * 1000))},
                        "status": {"S": "QUEUED"},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self.table,
                    "Item": pointer,
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]

    def confirm_published(self, booking_id: str) -> None:
        self.writes += 1
        self.ddb.update_item(
            TableName=self.table,
            Key={"pk": {"S": booking_pk(booking_id)}, "sk": {"S": BOOKING_SK}},
            UpdateExpression="REMOVE outbox_at",
            ConditionExpression="attribute_exists(pk)",
        )

    # -- seat transitions (each conditional; False when the condition did not hold) -------------------------

    def _update_seat(self, seat: Seat, expression: str, condition: str, values: dict[str, Any]) -> bool:
        self.writes += 1
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key={"pk": {"S": seat_pk(seat.event_id, seat.seat_id)}, "sk": {"S": SEAT_SK}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues=values,
            )
        except botocore.exceptions.ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    def set_holder(self, seat: Seat, holder: LineEntry | None) -> bool:
        """HELD by `holder` (AVAILABLE when None), if nobody changed the seat since `seat` was read and it
        is not being paid for or sold."""
        values: dict[str, Any] = {
            ":v": {"N": str(seat.version)},
            ":v1": {"N": str(seat.version + 1)},
            ":paying": {"S": SeatState.PAYING.value},
            ":sold": {"S": SeatState.SOLD.value},
        }
        condition = "version = :v AND #s <> :paying AND #s <> :sold"
        if holder is None:
            values[":avail"] = {"S": SeatState.AVAILABLE.value}
            expression = "SET #s = :avail, version = :v1 REMOVE holder, lease_until"
        else:
            values[":held"] = {"S": SeatState.HELD.value}
            values[":h"] = {"S": holder.booking_id}
            expression = "SET #s = :held, holder = :h, version = :v1 REMOVE lease_until"
        return self._update_seat(seat, expression, condition, values)

    def start_paying(self, seat: Seat, holder: str, lease_until: float, now: float) -> bool:
        """PAYING with a lease: from HELD by `holder`, or taking over an expired lease (reconciling)."""
        values = {
            ":v": {"N": str(seat.version)},
            ":v1": {"N": str(seat.version + 1)},
            ":h": {"S": holder},
            ":held": {"S": SeatState.HELD.value},
            ":paying": {"S": SeatState.PAYING.value},
            ":lease": {"N": repr(lease_until)},
            ":now": {"N": repr(now)},
        }
        condition = "version = :v AND holder = :h AND (#s = :held OR (#s = :paying AND lease_until <= :now))"
        expression = "SET #s = :paying, lease_until = :lease, version = :v1"
        return self._update_seat(seat, expression, condition, values)

    def end_lease(self, seat: Seat, holder: str, now: float) -> bool:
        """Outcome unknown: stay PAYING but let the next attempt (same key) reconcile at once."""
        values = {
            ":h": {"S": holder},
            ":paying": {"S": SeatState.PAYING.value},
            ":now": {"N": repr(now)},
        }
        return self._update_seat(seat, "SET lease_until = :now", "holder = :h AND #s = :paying", values)

    def mark_sold(self, seat: Seat, holder: str) -> bool:
        values = {
            ":h": {"S": holder},
            ":paying": {"S": SeatState.PAYING.value},
            ":sold": {"S": SeatState.SOLD.value},
        }
        return self._update_seat(
            seat,
            "SET #s = :sold, version = version + :one REMOVE lease_until",
            "holder = :h AND #s = :paying",
            {**values, ":one": {"N": "1"}},
        )

    def mark_declined(self, seat: Seat, entry: LineEntry) -> bool:
        """One transaction: the booking PAYMENT_FAILED and the seat free again (`advance` passes it on)."""
        pk = {"S": seat_pk(seat.event_id, seat.seat_id)}
        items = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": {"pk": pk, "sk": {"S": line_sk(entry.position)}},
                    "UpdateExpression": "SET #st = :failed, failed_ms = :now",
                    "ConditionExpression": "booking_id = :b",
                    "ExpressionAttributeNames": {"#st": "status"},
                    "ExpressionAttributeValues": {
                        ":failed": {"S": "PAYMENT_FAILED"},
                        ":now": {"N": str(int(self.clock() * 1000))},
                        ":b": {"S": entry.booking_id},
                    },
                }
            },
            {
                "Update": {
                    "TableName": self.table,
                    "Key": {"pk": pk, "sk": {"S": SEAT_SK}},
                    "UpdateExpression": (
                        "SET #s = :avail, version = version + :one REMOVE holder, lease_until"
                    ),
                    "ConditionExpression": "holder = :h AND #s = :paying",
                    "ExpressionAttributeNames": {"#s": "state"},
                    "ExpressionAttributeValues": {
                        ":avail": {"S": SeatState.AVAILABLE.value},
                        ":paying": {"S": SeatState.PAYING.value},
                        ":h": {"S": entry.booking_id},
                        ":one": {"N": "1"},
                    },
                }
            },
        ]
        self.writes += 2
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except botocore.exceptions.ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True


def _entry(item: dict[str, Any]) -> LineEntry:
    return LineEntry(
        booking_id=item["booking_id"]["S"],
        position=int(item["position"]["N"]),
        customer_id=item.get("customer_id", {}).get("S", ""),
        payment_token=item.get("payment_token", {}).get("S", ""),
        amount=int(item.get("amount", {}).get("N", "0")),
        created_ms=int(item.get("created_ms", {}).get("N", "0")),
        failed=item.get("status", {}).get("S") == "PAYMENT_FAILED",
    )


def _seat(event_id: str, seat_id: str, item: dict[str, Any], line: tuple[LineEntry, ...]) -> Seat:
    return Seat(
        event_id=event_id,
        seat_id=seat_id,
        state=SeatState(item.get("state", {}).get("S", SeatState.AVAILABLE.value)),
        holder=item.get("holder", {}).get("S"),
        lease_until=float(item.get("lease_until", {}).get("N", "0")),
        version=int(item.get("version", {}).get("N", "0")),
        next_seq=int(item.get("next_seq", {}).get("N", "0")),
        line=line,
    )


def _pointer(item: dict[str, Any]) -> Pointer:
    outbox = item.get("outbox_at", {}).get("N")
    return Pointer(
        booking_id=item["booking_id"]["S"],
        event_id=item["event_id"]["S"],
        seat_id=item["seat_id"]["S"],
        position=int(item["position"]["N"]),
        outbox_at=float(outbox) if outbox is not None else None,
    )
