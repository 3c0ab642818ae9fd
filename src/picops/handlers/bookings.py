"""Bookings Lambdas (contract entry points, picops.functions; the logic is in picops.core.bookings).

- `api_handler`: BookingsApi (API Gateway HTTP API, payload v2). `POST /bookings` accepts a booking
  (202 `{booking_id, status, position}`, 400 with field errors); `GET /bookings/{id}` describes one (200/404).
  Routed by Powertools' `APIGatewayHttpResolver`; invoked directly, other paths are 404 and other methods on a
  known path 405 (through API Gateway neither reaches the function: docs/bookings.md).
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
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

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
    idempotency_key,
    load_gateway,
    parse_request,
    settle,
    submit,
)
from picops.handlers import _env, _tracing

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
    from aws_lambda_powertools.event_handler.exceptions import NotFoundError
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

logger = Logger(service="picops-bookings")
# X-Ray: active only inside Lambda with `[observability] tracing` on (docs/operating.md, "Tracing");
# with it off the X-Ray SDK is not even imported (picops.handlers._tracing).
tracer = _tracing.tracer("picops-bookings")

# The clock the consumers judge leases by (tests replace it).
clock = time.time


def _now() -> float:
    return clock()


class MalformedMessage(ValueError):
    pass


def _store(account: str) -> BookingStore:
    return _env.once(
        ("store", account),
        lambda: BookingStore(
            _env.factory().client("dynamodb"), _env.names(account).physical("BookingsTable"), clock=_now
        ),
    )


def _publisher(account: str) -> Publisher:
    return _env.once(
        ("publisher", account),
        lambda: SnsPublisher(_env.factory().client("sns"), _env.names(account).arn("BookingTopic")),
    )


def _gateway(account: str) -> PaymentGateway:
    def build() -> PaymentGateway:
        store = _store(account)
        return load_gateway(_env.settings().bookings.gateway, store.ddb, store.table)

    return _env.once(("gateway", account), build)


# -- API ---------------------------------------------------------------------------------------------------

# BookingsApi's routes (stack/builders/bookings.API_ROUTES): path pattern -> methods.
ROUTES = {"/bookings": ("POST",), "/bookings/{id}": ("GET",)}


@functools.cache
def _api() -> APIGatewayHttpResolver:
    """The API's router, made on the API function's first request: the queue consumers, which share this
    module, never load Powertools' event handler."""
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.event_handler.exceptions import NotFoundError

    # Bodies as the API has always written them (sorted keys); Powertools' default drops the spaces.
    app = APIGatewayHttpResolver(serializer=lambda body: json.dumps(body, sort_keys=True))
    app.post("/bookings")(_create)
    app.get("/bookings/<id>")(_describe)
    app.exception_handler(InvalidRequest)(_invalid)
    app.exception_handler(NotFoundError)(_no_route)
    return app


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[Any]:
    from aws_lambda_powertools.event_handler import Response, content_types

    return Response(status, content_types.APPLICATION_JSON, body, headers=headers)


def _error(status: int, message: str, errors: list[dict[str, str]] | None = None) -> Response[Any]:
    body: dict[str, Any] = {"message": message}
    if errors is not None:
        body["errors"] = errors
    return _json(status, body)


def _create() -> Response[Any]:
    event = _api().current_event
    request = parse_request(_body(event.raw_event))
    receipt = submit(
        _store(_api_account()),
        _publisher(_api_account()),
        request,
        default_amount=_env.settings().bookings.default_amount,
    )
    if not receipt.published:
        logger.warning("publish failed; left for the outbox sweep", extra={"booking_id": receipt.booking_id})
    logger.info(
        "booking accepted", extra={**receipt.as_dict(), **_seat_keys(request.event_id, request.seat_id)}
    )
    return _json(202, receipt.as_dict())


def _describe(id: str) -> Response[Any]:
    # API Gateway's decoded path parameter is the id; the captured segment only when it sent none.
    booking_id = check_booking_id((_api().current_event.path_parameters or {}).get("id") or id)
    found = describe(_store(_api_account()), booking_id)
    if found is None:
        return _error(404, f"no booking {booking_id}")
    return _json(200, found)


def _invalid(exc: InvalidRequest) -> Response[Any]:
    return _error(exc.status, str(exc), exc.errors)


def _no_route(_: NotFoundError) -> Response[Any]:
    # Behind API Gateway an unmatched method or path never reaches the function (API Gateway answers 404
    # itself); invoked directly, a known path with another method says which methods it has.
    event = _api().current_event
    pattern = _pattern_of(event.path)
    if pattern is None:
        return _error(404, f"no route {event.path!r}")
    allowed = ROUTES[pattern]
    return _json(
        405, {"message": f"{event.http_method} not allowed on {pattern}"}, {"allow": ", ".join(allowed)}
    )


def _pattern_of(path: str) -> str | None:
    """The route pattern `path` fits whatever the method (`{...}` matches any one segment)."""
    parts = [p for p in path.split("/") if p]
    for pattern in ROUTES:
        want = [p for p in pattern.split("/") if p]
        if len(want) == len(parts) and all(
            w.startswith("{") or w == p for w, p in zip(want, parts, strict=True)
        ):
            return pattern
    return None


def _routed_path(event: dict[str, Any]) -> str:
    """The path to route by: API Gateway names the route it matched (routeKey), and a named stage prefixes
    rawPath (`/prod/bookings`), so the route's own trailing segments of rawPath are kept."""
    http = (event.get("requestContext") or {}).get("http") or {}
    path = str(event.get("rawPath") or http.get("path") or "/")
    _, _, pattern = str(event.get("routeKey") or "").partition(" ")
    if pattern not in ROUTES:
        return path
    depth = len([p for p in pattern.split("/") if p])
    return "/" + "/".join([p for p in path.split("/") if p][-depth:])


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


def _api_account() -> str:
    return _env.account(_api().lambda_context)


@tracer.capture_lambda_handler(capture_response=False)
def api_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Only the path changes; Powertools reads `rawPath` for HTTP API events, and the body stays encoded.
    return dict(_api().resolve({**event, "rawPath": _routed_path(event)}, context))


# -- consumers -------------------------------------------------------------------------------------------


def parse_message(record: SQSRecord) -> BookingMessage:
    body = record.body or ""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and data.get("Type") == "Notification" and "Message" in data:
            data = json.loads(data["Message"])  # a subscription without raw delivery
        return BookingMessage.from_data(data)
    except ValueError as exc:
        raise MalformedMessage(f"message {record.message_id} is not a booking message: {exc}") from None


# The domain ids every line a consumer logs about one message carries, so `picops trace` and
# `picops logs --all --filter` find all of them (docs/operating.md, "Tracing one booking").
CORRELATION_KEYS = ("booking_id", "event_id", "seat_id", "idempotency_key", "message_id")


def _seat_keys(event_id: str, seat_id: str) -> dict[str, str]:
    return {"event_id": event_id, "seat_id": seat_id}


def _correlate(record: SQSRecord, message: BookingMessage) -> None:
    tracer.put_annotation("booking_id", message.booking_id)
    logger.append_keys(
        booking_id=message.booking_id,
        idempotency_key=idempotency_key(message.booking_id),
        message_id=record.message_id,
        **_seat_keys(message.event_id, message.seat_id),
    )


def _consume(event: dict[str, Any], context: Any, one: Any, kind: str) -> dict[str, Any]:
    # Powertools' batch utility and its metrics load on the first batch, not at import: the API function,
    # which shares this module, uses neither (docs/architecture.md, "Cold start").
    from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response

    from picops.handlers._metrics import publish_by_kind
    from picops.stack.metrics import service_name

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
        _correlate(record, message)
        try:
            one(message)
        except Exception as exc:
            counts["BookingsFailed", kind] += 1
            logger.warning("booking message failed; retried", extra={"error": f"{type(exc).__name__}: {exc}"})
            raise
        finally:
            # A warm container's next message must not inherit this one's ids.
            logger.remove_keys(list(CORRELATION_KEYS))
        counts["BookingsProcessed", kind] += 1

    try:
        return dict(process_partial_response(event, record_handler, processor, context))
    finally:
        publish_by_kind(counts, service_name(_env.settings().stack.name))


@tracer.capture_lambda_handler(capture_response=False)
def inventory_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    store = _store(_env.account(context))

    def one(message: BookingMessage) -> None:
        seat = advance(store, message.event_id, message.seat_id)
        logger.info(
            "seat advanced",
            extra={"seat": seat.as_dict() if seat else None},
        )

    return _consume(event, context, one, "seat")


@tracer.capture_lambda_handler(capture_response=False)
def payment_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    account = _env.account(context)
    store, gateway = _store(account), _gateway(account)
    bookings = _env.settings().bookings

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
                "seat": result.seat.as_dict() if result.seat else None,
                "charged": [[b, o.value] for b, o in result.charged],
            },
        )

    return _consume(event, context, one, "payment")
