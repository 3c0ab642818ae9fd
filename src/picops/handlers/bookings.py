"""Bookings Lambdas (contract entry points, DESIGN.md section 5; the logic is in picops.core.bookings).

- `api_handler`: BookingsApi (API Gateway HTTP API, payload v2). `POST /bookings` accepts a booking
  (202 `{booking_id, status, position}`, 400 with field errors); `GET /bookings/{id}` describes one (200/404);
  other routes 404, other methods 405.
- `inventory_handler`: InventoryQueue (SQS FIFO). `advance(seat)` for each message's seat.
- `payment_handler`: PaymentQueue (SQS FIFO). `settle(seat)`: charge the holder, pass a declined seat on.

Both consumers use Powertools' `SqsFifoPartialProcessor` with `skip_group_on_error`: after a failure in one
seat's message group, the rest of that group in the batch is reported failed too (FIFO order within a seat
holds), while other seats' messages go on. Clients, settings and the gateway are built once per container
on first use, never at import.
"""

from __future__ import annotations

import base64
import functools
import json
import time
from collections import Counter
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from picops.aws import ClientFactory, lambda_factory
from picops.config import Settings, settings_from_env
from picops.core.bookings import (
    BookingMessage,
    BookingStore,
    InvalidRequest,
    PaymentGateway,
    Publisher,
    SnsPublisher,
    advance,
    check_booking_id,
    describe,
    load_gateway,
    parse_request,
    settle,
    submit,
)
from picops.handlers._context import account_from_context
from picops.handlers._metrics import publish_by_kind
from picops.stack.metrics import service_name
from picops.stack.names import StackNames

logger = Logger(service="picops-bookings")

# The clock the consumers judge leases by (tests replace it).
clock = time.time


def _now() -> float:
    return clock()


class MalformedMessage(ValueError):
    pass


@functools.cache
def _settings() -> Settings:
    return settings_from_env()


def _factory() -> ClientFactory:
    return lambda_factory()


def _account(context: Any) -> str:
    return account_from_context(context) or _factory().account_id()


@functools.cache
def _names(account: str) -> StackNames:
    return StackNames(_settings(), account, _factory().region)


@functools.cache
def _store(account: str) -> BookingStore:
    return BookingStore(_factory().client("dynamodb"), _names(account).physical("BookingsTable"), clock=_now)


@functools.cache
def _publisher(account: str) -> Publisher:
    return SnsPublisher(_factory().client("sns"), _names(account).arn("BookingTopic"))


@functools.cache
def _gateway(account: str) -> PaymentGateway:
    store = _store(account)
    return load_gateway(_settings().bookings.gateway, store.ddb, store.table)


# -- API ---------------------------------------------------------------------------------------------------


def _response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(body, sort_keys=True),
        "isBase64Encoded": False,
    }


def _error(status: int, message: str, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message}
    if errors is not None:
        body["errors"] = errors
    return _response(status, body)


ROUTES = {"/bookings": ("POST",), "/bookings/{id}": ("GET",)}


def _route(event: dict[str, Any]) -> tuple[str, str, dict[str, str]]:
    http = (event.get("requestContext") or {}).get("http") or {}
    method = str(http.get("method") or "").upper()
    # API Gateway names the matched route (rawPath may carry a stage prefix); the path is the fallback.
    route_key = str(event.get("routeKey") or "")
    _, _, pattern = route_key.partition(" ")
    if pattern in ROUTES:
        params = event.get("pathParameters") or {}
        return pattern, method, ({"id": str(params.get("id") or "")} if "{id}" in pattern else {})
    path = str(event.get("rawPath") or http.get("path") or "")
    params = event.get("pathParameters") or {}
    parts = [p for p in path.split("/") if p]
    if parts == ["bookings"]:
        return "/bookings", method, {}
    if len(parts) == 2 and parts[0] == "bookings":
        return "/bookings/{id}", method, {"id": str(params.get("id") or parts[1])}
    return "", method, {}


def _body(event: dict[str, Any]) -> str | bytes | None:
    body = event.get("body")
    if body is not None and event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:
            raise InvalidRequest(
                "body is not valid base64", [{"field": "body", "error": "bad base64"}]
            ) from None
    return body if isinstance(body, str | bytes) or body is None else str(body)


def api_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    route, method, params = _route(event)
    if not route:
        return _error(404, f"no route {event.get('rawPath')!r}")
    if method not in ROUTES[route]:
        return _response(
            405, {"message": f"{method} not allowed on {route}"}, {"allow": ", ".join(ROUTES[route])}
        )
    account = _account(context)
    try:
        if method == "POST":
            request = parse_request(_body(event))
            receipt = submit(
                _store(account),
                _publisher(account),
                request,
                default_amount=_settings().bookings.default_amount,
            )
            if not receipt.published:
                logger.warning(
                    "publish failed; left for the outbox sweep", extra={"booking_id": receipt.booking_id}
                )
            logger.info("booking accepted", extra=receipt.as_dict())
            return _response(202, receipt.as_dict())
        booking_id = check_booking_id(params.get("id"))
        found = describe(_store(account), booking_id)
        if found is None:
            return _error(404, f"no booking {booking_id}")
        return _response(200, found)
    except InvalidRequest as exc:
        return _error(exc.status, str(exc), exc.errors)


# -- consumers -------------------------------------------------------------------------------------------


def parse_message(record: SQSRecord) -> BookingMessage:
    body = record.body or ""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and data.get("Type") == "Notification" and "Message" in data:
            data = json.loads(data["Message"])  # a subscription without raw delivery
        return BookingMessage.model_validate(data)
    except ValueError as exc:
        raise MalformedMessage(f"message {record.message_id} is not a booking message: {exc}") from None


def _consume(event: dict[str, Any], context: Any, one: Any, kind: str) -> dict[str, Any]:
    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    processor.raise_on_entire_batch_failure = False
    counts: Counter[tuple[str, str]] = Counter()

    def record_handler(record: SQSRecord) -> None:
        try:
            message = parse_message(record)
        except MalformedMessage as exc:
            # Retrying cannot fix it; acknowledge and say so (nothing is lost: the table holds the booking).
            logger.error("malformed booking message dropped", extra={"error": str(exc)})
            return
        try:
            one(message)
        except Exception as exc:
            counts["BookingsFailed", kind] += 1
            logger.warning(
                "booking message failed; retried",
                extra={"booking_id": message.booking_id, "error": f"{type(exc).__name__}: {exc}"},
            )
            raise
        counts["BookingsProcessed", kind] += 1

    try:
        return dict(process_partial_response(event, record_handler, processor, context))
    finally:
        publish_by_kind(counts, service_name(_settings().stack.name))


def inventory_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    store = _store(_account(context))

    def one(message: BookingMessage) -> None:
        seat = advance(store, message.event_id, message.seat_id)
        logger.info(
            "seat advanced",
            extra={"booking_id": message.booking_id, "seat": seat.as_dict() if seat else None},
        )

    return _consume(event, context, one, "seat")


def payment_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    account = _account(context)
    store, gateway = _store(account), _gateway(account)
    bookings = _settings().bookings

    def one(message: BookingMessage) -> None:
        result = settle(
            store,
            gateway,
            message.event_id,
            message.seat_id,
            lease_s=bookings.lease_s,
            unknown_retries=bookings.unknown_retries,
            clock=_now,
        )
        logger.info(
            "seat settled",
            extra={
                "booking_id": message.booking_id,
                "seat": result.seat.as_dict() if result.seat else None,
                "charged": [[b, o.value] for b, o in result.charged],
            },
        )

    return _consume(event, context, one, "payment")
