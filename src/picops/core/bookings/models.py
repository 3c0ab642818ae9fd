"""What the booking API accepts and what the bookings pipeline stores, validated (fields.py's checks).

Ids that end up in table keys are restricted to a safe charset and length, so no input can reach another
item's key (`#` separates key parts and is never allowed in an id).
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from picops.core.bookings import fields
from picops.core.bookings.ids import is_booking_id

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
id_text = fields.Text(min_length=1, max_length=64, pattern=ID_PATTERN)
token_text = fields.Text(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")
MAX_BODY_BYTES = 16 * 1024
# A booking is one flat object: anything nested deeper is refused before it is parsed (a parser recursing
# through 15,000 `[` would otherwise fail with RecursionError, a 500).
MAX_JSON_DEPTH = 8


def is_id(value: object) -> bool:
    """Whether `value` is an id a table key may carry (1-64 letters, digits and `_.:-`)."""
    try:
        id_text(value)
    except fields.FieldError:
        return False
    return True


class SeatState(enum.StrEnum):
    AVAILABLE = "AVAILABLE"
    HELD = "HELD"
    PAYING = "PAYING"
    SOLD = "SOLD"


class BookingState(enum.StrEnum):
    QUEUED = "QUEUED"
    HOLDER = "HOLDER"
    PAYING = "PAYING"
    PAID = "PAID"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    LOST = "LOST"


_REQUEST_CHECKS: dict[str, fields.Check] = {
    "event_id": id_text,
    "seat_id": id_text,
    "customer_id": id_text,
    "payment_token": token_text,
    # Strict: `"amount": true` or `"amount": "12"` is a wrong type (400), never coerced into a booking.
    "amount": fields.optional(fields.Int(ge=1, le=100_000_000)),
}


@dataclass(frozen=True)
class BookingRequest:
    """The body of `POST /bookings`; made only from values that pass its checks."""

    event_id: str
    seat_id: str
    customer_id: str
    payment_token: str
    amount: int | None = None

    def __post_init__(self) -> None:
        _, problems = fields.validate(asdict(self), _REQUEST_CHECKS, defaults={}, forbid_extra=True)
        if problems:
            raise InvalidRequest("invalid booking request", problems)

    @staticmethod
    def problems(data: dict[str, Any]) -> list[dict[str, str]]:
        """What is wrong with `data` as a request (`{"field", "error"}` each); empty when nothing."""
        return fields.validate(data, _REQUEST_CHECKS, defaults={"amount": None}, forbid_extra=True)[1]


class InvalidRequest(ValueError):
    """A request that cannot be accepted; `errors` lists each field's problem, `status` the HTTP answer."""

    def __init__(
        self, message: str, errors: list[dict[str, str]] | None = None, *, status: int = 400
    ) -> None:
        super().__init__(message)
        self.errors = errors or []
        self.status = status


def json_depth(text: str | bytes) -> int:
    """How deeply arrays and objects nest in `text`, counted without parsing (and without recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text.decode("utf-8", "replace") if isinstance(text, bytes) else text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_request(body: str | bytes | None) -> BookingRequest:
    if body is None or body == "" or body == b"":
        raise InvalidRequest("request body is required", [{"field": "body", "error": "missing"}])
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequest(
            "request body too large", [{"field": "body", "error": "over 16 KiB"}], status=413
        )
    if json_depth(body) > MAX_JSON_DEPTH:
        raise InvalidRequest(
            "body nests too deeply",
            [{"field": "body", "error": f"more than {MAX_JSON_DEPTH} levels of nesting"}],
        )
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidRequest("body is not valid JSON", [{"field": "body", "error": str(exc)}]) from None
    if not isinstance(data, dict):
        raise InvalidRequest("body must be a JSON object", [{"field": "body", "error": "not an object"}])
    values, problems = fields.validate(data, _REQUEST_CHECKS, defaults={"amount": None}, forbid_extra=True)
    if problems:
        raise InvalidRequest("invalid booking request", problems)
    return BookingRequest(**values)


def check_booking_id(value: object) -> str:
    if not is_booking_id(value):
        raise InvalidRequest(
            "invalid booking id", [{"field": "id", "error": "must be a 26-character booking id"}]
        )
    return str(value)


_MESSAGE_CHECKS: dict[str, fields.Check] = {
    "booking_id": fields.Text(min_length=26, max_length=26),
    "event_id": id_text,
    "seat_id": id_text,
    # Lax, as the message has always been read: what a publisher wrote as `"3"` or `3.0` is position 3.
    "position": fields.Int(ge=1, strict=False),
}


@dataclass(frozen=True)
class BookingMessage:
    """What BookingTopic carries (one message per accepted booking)."""

    booking_id: str
    event_id: str
    seat_id: str
    position: int

    def __post_init__(self) -> None:
        _, problems = fields.validate(asdict(self), _MESSAGE_CHECKS, defaults={}, forbid_extra=False)
        if problems:
            raise ValueError(_describe(problems))

    @classmethod
    def from_data(cls, data: object) -> BookingMessage:
        """The message `data` (a decoded JSON document) holds; keys it does not know are ignored.
        ValueError names each problem."""
        if not isinstance(data, dict):
            raise ValueError("body: Input should be a valid dictionary")
        values, problems = fields.validate(data, _MESSAGE_CHECKS, defaults={}, forbid_extra=False)
        if problems:
            raise ValueError(_describe(problems))
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def group_id(self) -> str:
        return seat_group(self.event_id, self.seat_id)


def _describe(problems: list[dict[str, str]]) -> str:
    return "; ".join(f"{p['field']}: {p['error']}" for p in problems)


MESSAGE_GROUP_ID_MAX = 128  # SNS FIFO and SQS FIFO MessageGroupId: at most 128 characters
_GROUP_DIGEST_CHARS = 32  # 128 bits of SHA-256: distinct seats never share a group


def seat_group(event_id: str, seat_id: str) -> str:
    """The seat's message group: `event/seat`, readable, unless two 64-character ids make it 129 characters
    (over the limit); then a readable prefix and a digest of the whole, so each seat keeps exactly one group
    (its ordering) and no two seats share one."""
    group = f"{event_id}/{seat_id}"
    if len(group) <= MESSAGE_GROUP_ID_MAX:
        return group
    digest = hashlib.sha256(group.encode()).hexdigest()[:_GROUP_DIGEST_CHARS]
    return f"{group[: MESSAGE_GROUP_ID_MAX - _GROUP_DIGEST_CHARS - 1]}~{digest}"


@dataclass(frozen=True)
class LineEntry:
    """One booking in a seat's line (what the table stores; the reported state is derived)."""

    booking_id: str
    position: int
    customer_id: str
    payment_token: str
    amount: int
    created_ms: int
    failed: bool = False


@dataclass(frozen=True)
class Seat:
    event_id: str
    seat_id: str
    state: SeatState = SeatState.AVAILABLE
    holder: str | None = None
    lease_until: float = 0.0
    version: int = 0
    next_seq: int = 0
    line: tuple[LineEntry, ...] = field(default_factory=tuple)

    def first_eligible(self) -> LineEntry | None:
        """The lowest position whose payment has not failed: who must hold the seat."""
        for entry in self.line:
            if not entry.failed:
                return entry
        return None

    def entry(self, booking_id: str) -> LineEntry | None:
        return next((e for e in self.line if e.booking_id == booking_id), None)

    def booking_state(self, entry: LineEntry) -> BookingState:
        """Derived from the seat: only the holder and PAYMENT_FAILED are written per booking."""
        if entry.booking_id == self.holder:
            if self.state is SeatState.SOLD:
                return BookingState.PAID
            if self.state is SeatState.PAYING:
                return BookingState.PAYING
            return BookingState.HOLDER
        if entry.failed:
            return BookingState.PAYMENT_FAILED
        if self.state is SeatState.SOLD:
            return BookingState.LOST
        return BookingState.QUEUED

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "seat_id": self.seat_id,
            "state": self.state.value,
            "holder": self.holder,
            "version": self.version,
        }
