"""Bookings: seats, their lines, `advance()`, payments and the invariant checker (docs/bookings.md).

The three rules: the first accepted request for a seat gets it; only the booking that holds the seat is
charged; when that charge is declined the seat passes to the next in line, which is then charged.
BookingsTable decides all three, never delivery order. The public API of the wing; handlers and the CLI
import from here.

The names load lazily (PEP 562): the handlers do not load the invariant checker.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# name -> the module that defines it (or, for a submodule, the submodule itself)
_HOMES: dict[str, str] = {
    "Accepted": "picops.core.bookings.store",
    "BookingMessage": "picops.core.bookings.models",
    "BookingRequest": "picops.core.bookings.models",
    "BookingState": "picops.core.bookings.models",
    "BookingStore": "picops.core.bookings.store",
    "ChargeOutcome": "picops.core.bookings.payments",
    "ChargeRecord": "picops.core.bookings.payments",
    "Contention": "picops.core.bookings.store",
    "DlqMessage": "picops.core.bookings.checker",
    "InvalidRequest": "picops.core.bookings.models",
    "LineEntry": "picops.core.bookings.models",
    "PaymentGateway": "picops.core.bookings.payments",
    "PaymentUnknown": "picops.core.bookings.payments",
    "Pointer": "picops.core.bookings.store",
    "Publisher": "picops.core.bookings.outbox",
    "QueueCount": "picops.core.bookings.checker",
    "Receipt": "picops.core.bookings.service",
    "Report": "picops.core.bookings.checker",
    "RepublishResult": "picops.core.bookings.outbox",
    "Seat": "picops.core.bookings.models",
    "SeatBusy": "picops.core.bookings.payments",
    "SeatState": "picops.core.bookings.models",
    "SettleResult": "picops.core.bookings.payments",
    "SimulatedGateway": "picops.core.bookings.payments",
    "SnsPublisher": "picops.core.bookings.outbox",
    "Violation": "picops.core.bookings.checker",
    "advance": "picops.core.bookings.seats",
    "check_booking_id": "picops.core.bookings.models",
    "check_seat": "picops.core.bookings.checker",
    "describe": "picops.core.bookings.service",
    "id_time_ms": "picops.core.bookings.ids",
    "idempotency_key": "picops.core.bookings.payments",
    "inspect_table": "picops.core.bookings.checker",
    "is_booking_id": "picops.core.bookings.ids",
    "load_gateway": "picops.core.bookings.payments",
    "new_id": "picops.core.bookings.ids",
    "parse_request": "picops.core.bookings.models",
    "publish": "picops.core.bookings.outbox",
    "read_charges": "picops.core.bookings.payments",
    "republish_pending": "picops.core.bookings.outbox",
    "seat_document": "picops.core.bookings.checker",
    "seat_group": "picops.core.bookings.models",
    "settle": "picops.core.bookings.payments",
    "submit": "picops.core.bookings.service",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(home)
    value = module if home == f"{__name__}.{name}" else getattr(module, name)
    globals()[name] = value  # later lookups skip this function
    return value


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
