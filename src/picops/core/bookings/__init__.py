"""Bookings: seats, their lines, `advance()`, payments and the invariant checker (docs/bookings.md).

The three rules: the first accepted request for a seat gets it; only the booking that holds the seat is
charged; when that charge is declined the seat passes to the next in line, which is then charged.
BookingsTable decides all three, never delivery order. The public API of the wing; handlers and the CLI
import from here.

The names load lazily (PEP 562): the handlers do not load the invariant checker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from picops import lazy

if TYPE_CHECKING:
    from picops.core.bookings.checker import DlqMessage, QueueCount, inspect_table
    from picops.core.bookings.models import (
        BookingMessage,
        BookingRequest,
        InvalidRequest,
        check_booking_id,
        is_id,
        parse_request,
    )
    from picops.core.bookings.outbox import Publisher, SnsPublisher, republish_pending
    from picops.core.bookings.payments import (
        PaymentGateway,
        SimulatedGateway,
        idempotency_key,
        load_gateway,
        settle,
    )
    from picops.core.bookings.seats import advance
    from picops.core.bookings.service import describe, submit
    from picops.core.bookings.store import BookingStore

# name -> (the module that defines it, its name there); only what other layers use is exported
_HOMES: lazy.Homes = {
    "advance": ("picops.core.bookings.seats", "advance"),
    "BookingMessage": ("picops.core.bookings.models", "BookingMessage"),
    "BookingRequest": ("picops.core.bookings.models", "BookingRequest"),
    "BookingStore": ("picops.core.bookings.store", "BookingStore"),
    "check_booking_id": ("picops.core.bookings.models", "check_booking_id"),
    "describe": ("picops.core.bookings.service", "describe"),
    "DlqMessage": ("picops.core.bookings.checker", "DlqMessage"),
    "idempotency_key": ("picops.core.bookings.payments", "idempotency_key"),
    "inspect_table": ("picops.core.bookings.checker", "inspect_table"),
    "InvalidRequest": ("picops.core.bookings.models", "InvalidRequest"),
    "is_id": ("picops.core.bookings.models", "is_id"),
    "load_gateway": ("picops.core.bookings.payments", "load_gateway"),
    "parse_request": ("picops.core.bookings.models", "parse_request"),
    "PaymentGateway": ("picops.core.bookings.payments", "PaymentGateway"),
    "Publisher": ("picops.core.bookings.outbox", "Publisher"),
    "QueueCount": ("picops.core.bookings.checker", "QueueCount"),
    "republish_pending": ("picops.core.bookings.outbox", "republish_pending"),
    "settle": ("picops.core.bookings.payments", "settle"),
    "SimulatedGateway": ("picops.core.bookings.payments", "SimulatedGateway"),
    "SnsPublisher": ("picops.core.bookings.outbox", "SnsPublisher"),
    "submit": ("picops.core.bookings.service", "submit"),
}


__getattr__ = lazy.exports(__name__, _HOMES)


__all__ = [
    "BookingMessage",
    "BookingRequest",
    "BookingStore",
    "DlqMessage",
    "InvalidRequest",
    "PaymentGateway",
    "Publisher",
    "QueueCount",
    "SimulatedGateway",
    "SnsPublisher",
    "advance",
    "check_booking_id",
    "describe",
    "idempotency_key",
    "inspect_table",
    "is_id",
    "load_gateway",
    "parse_request",
    "republish_pending",
    "settle",
    "submit",
]
