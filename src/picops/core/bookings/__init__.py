"""Bookings: seats, their lines, `advance()`, payments and the invariant checker (docs/bookings.md).

The three rules: the first accepted request for a seat gets it; only the booking that holds the seat is
charged; when that charge is declined the seat passes to the next in line, which is then charged.
BookingsTable decides all three, never delivery order. The public API of the wing; handlers and the CLI
import from here.
"""

from picops.core.bookings.checker import (
    DlqMessage,
    QueueCount,
    Report,
    Violation,
    check_seat,
    inspect_table,
    seat_document,
)
from picops.core.bookings.ids import id_time_ms, is_booking_id, new_id
from picops.core.bookings.models import (
    BookingMessage,
    BookingRequest,
    BookingState,
    InvalidRequest,
    LineEntry,
    Seat,
    SeatState,
    check_booking_id,
    parse_request,
    seat_group,
)
from picops.core.bookings.outbox import (
    Publisher,
    RepublishResult,
    SnsPublisher,
    publish,
    republish_pending,
)
from picops.core.bookings.payments import (
    ChargeOutcome,
    ChargeRecord,
    PaymentGateway,
    PaymentUnknown,
    SeatBusy,
    SettleResult,
    SimulatedGateway,
    idempotency_key,
    load_gateway,
    read_charges,
    settle,
)
from picops.core.bookings.seats import advance
from picops.core.bookings.service import Receipt, describe, submit
from picops.core.bookings.store import Accepted, BookingStore, Contention, Pointer

__all__ = [
    "Accepted",
    "BookingMessage",
    "BookingRequest",
    "BookingState",
    "BookingStore",
    "ChargeOutcome",
    "ChargeRecord",
    "Contention",
    "DlqMessage",
    "InvalidRequest",
    "LineEntry",
    "PaymentGateway",
    "PaymentUnknown",
    "Pointer",
    "Publisher",
    "QueueCount",
    "Receipt",
    "Report",
    "RepublishResult",
    "Seat",
    "SeatBusy",
    "SeatState",
    "SettleResult",
    "SimulatedGateway",
    "SnsPublisher",
    "Violation",
    "advance",
    "check_booking_id",
    "check_seat",
    "describe",
    "id_time_ms",
    "idempotency_key",
    "inspect_table",
    "is_booking_id",
    "load_gateway",
    "new_id",
    "parse_request",
    "publish",
    "read_charges",
    "republish_pending",
    "seat_document",
    "seat_group",
    "settle",
    "submit",
]
