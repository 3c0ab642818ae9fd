"""`picops bookings`: book a seat through the stack's API, inspect seats against the three booking rules,
republish bookings whose publish was lost."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Annotated, Any

import typer
from rich.markup import escape

from picops.cli.state import AppState, get_state
from picops.core.bookings import (
    BookingRequest,
    BookingStore,
    DlqMessage,
    QueueCount,
    SnsPublisher,
    inspect_table,
    is_id,
    republish_pending,
)
from picops.core.dlq import peek_messages, resolve_queue
from picops.errors import EndpointUnreachable, OperationFailed, ResourceMissing, UsageError, ValidationFailed
from picops.stack.names import StackNames

app = typer.Typer(
    help="Bookings: book a seat through BookingsApi, inspect seats against the booking rules, republish.",
    no_args_is_help=True,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
QUEUES = ("InventoryQueue", "PaymentQueue", "InventoryDLQ", "PaymentDLQ")
DLQS = ("InventoryDLQ", "PaymentDLQ")
HTTP_TIMEOUT_S = 30


def _names(state: AppState) -> StackNames:
    factory = state.factory
    return StackNames(state.settings, factory.account_id(), factory.region)


# -- book ----------------------------------------------------------------------------------------------


def _api_url(state: AppState, explicit: str | None) -> str:
    """--api-url, else `[bookings] api_url`, else the local API `picops local run` recorded (on a local
    endpoint), else the deployed BookingsApi's endpoint looked up by name."""
    if explicit:
        if not explicit.startswith(("http://", "https://")):
            raise UsageError(f"--api-url {explicit!r} is not an http(s) URL")
        return explicit.rstrip("/")
    settings = state.settings
    if settings.bookings.api_url:
        return settings.bookings.api_url
    factory = state.factory
    if factory.endpoint_url:
        from picops.local.http_api import read_api_record

        record = read_api_record()
        if record is None:
            raise UsageError(
                f"no local BookingsApi is being served for {factory.endpoint_url}",
                hint="run `picops local run` (it serves the API on --api-port, default 3000) or pass "
                "--api-url",
            )
        if record.endpoint_url.rstrip("/") != factory.endpoint_url.rstrip("/"):
            raise UsageError(
                f"the local BookingsApi at {record.url} serves {record.endpoint_url}, "
                f"not {factory.endpoint_url}",
                hint="pass --api-url, or run `picops local run` against this endpoint",
            )
        return record.url
    name = StackNames(settings, factory.account_id(), factory.region).physical("BookingsApi")
    client = factory.client("apigatewayv2")
    for page in client.get_paginator("get_apis").paginate():
        for api in page.get("Items", []):
            if api.get("Name") == name and api.get("ApiEndpoint"):
                return str(api["ApiEndpoint"]).rstrip("/")
    raise ResourceMissing(f"BookingsApi {name} not found", hint="run `picops provision` or pass --api-url")


def call_api(url: str, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode("utf-8") if body is not None else None
    request = urllib.request.Request(
        f"{url}{path}",
        data=data,
        method=method,
        headers={"content-type": "application/json", "accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EndpointUnreachable(f"{method} {url}{path}: BookingsApi unreachable ({reason})") from None
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, {"message": raw.decode("utf-8", "replace")[:500]}


@app.command("book")
def book(
    ctx: typer.Context,
    event: Annotated[str, typer.Option("--event", help="Event id.")],
    seat: Annotated[str, typer.Option("--seat", help="Seat id.")],
    customer: Annotated[str, typer.Option("--customer", help="Customer id.")],
    token: Annotated[
        str, typer.Option("--token", help="Payment token (tok_decline*, tok_timeout* simulate).")
    ],
    amount: Annotated[int | None, typer.Option("--amount", help="Amount in minor units.")] = None,
    api_url: Annotated[
        str | None, typer.Option("--api-url", help="BookingsApi base URL (default: local or deployed API).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and show the request; send nothing.")
    ] = False,
    json_mode: JsonOpt = False,
) -> None:
    """Request a seat: POST /bookings on the stack's API. Prints {booking_id, status, position}.

    Exit 2 when the API rejects the request (its field errors are shown), 3 when it cannot be reached.
    """
    state = get_state(ctx)
    out = state.output(json_mode)
    body: dict[str, Any] = {
        "event_id": event,
        "seat_id": seat,
        "customer_id": customer,
        "payment_token": token,
    }
    if amount is not None:
        body["amount"] = amount
    problems = BookingRequest.problems(body)
    if problems:
        detail = "; ".join(f"{p['field']}: {p['error']}" for p in problems)
        raise ValidationFailed(f"invalid booking request: {detail}")
    url = _api_url(state, api_url)
    out.target(f"target: BookingsApi {url}")
    if dry_run:
        out.result(
            {"dry_run": True, "url": f"{url}/bookings", "request": body},
            lambda: out.info(f"would POST {url}/bookings {json.dumps(body)}"),
        )
        return
    status, doc = call_api(url, "POST", "/bookings", body)
    if 400 <= status < 500:
        errors = doc.get("errors", []) if isinstance(doc, dict) else []
        detail = "; ".join(f"{e.get('field')}: {e.get('error')}" for e in errors if isinstance(e, dict))
        message = doc.get("message", "") if isinstance(doc, dict) else ""
        raise ValidationFailed(
            f"BookingsApi rejected the request ({status}): {message}" + (f": {detail}" if detail else "")
        )
    if status != 202 or not isinstance(doc, dict):
        raise OperationFailed(f"BookingsApi answered {status}: {doc}")
    receipt = {k: doc.get(k) for k in ("booking_id", "status", "position")}
    out.result(
        receipt,
        lambda: out.info(
            f"booking [bold]{receipt['booking_id']}[/bold]: {receipt['status']} "
            f"at position {receipt['position']} for {escape(event)}/{escape(seat)}"
        ),
    )


# -- inspect ---------------------------------------------------------------------------------------------


def _check_id(value: str | None, flag: str) -> str | None:
    if value is None:
        return None
    if not is_id(value):
        raise UsageError(f"{flag} {value!r}: 1-64 letters, digits and _.:- characters")
    return value


def _queues(state: AppState, names: StackNames) -> tuple[list[QueueCount], list[DlqMessage]]:
    sqs = state.factory.client("sqs")
    counts: list[QueueCount] = []
    messages: list[DlqMessage] = []
    for logical in QUEUES:
        ref = resolve_queue(sqs, logical, names)
        counts.append(QueueCount(logical, ref.visible, ref.in_flight))
        if logical in DLQS and ref.visible:
            for m in peek_messages(sqs, ref, min(ref.visible, 100)):
                try:
                    data = json.loads(m.body)
                    if isinstance(data, dict) and data.get("Type") == "Notification":
                        data = json.loads(data.get("Message", "{}"))
                except ValueError:
                    data = {}
                data = data if isinstance(data, dict) else {}
                messages.append(
                    DlqMessage(
                        logical,
                        m.message_id,
                        data.get("booking_id"),
                        data.get("event_id"),
                        data.get("seat_id"),
                    )
                )
    return counts, messages


@app.command("inspect")
def inspect(
    ctx: typer.Context,
    event: Annotated[str | None, typer.Option("--event", help="Only this event.")] = None,
    seat: Annotated[str | None, typer.Option("--seat", help="Only this seat.")] = None,
    json_mode: JsonOpt = False,
) -> None:
    """Check every seat against the booking rules; exit 1 when any violation is found.

    Reads BookingsTable (seats, lines, the gateway's ledger) and the four queues; stuck seats are
    reported only once InventoryQueue and PaymentQueue are drained; messages in the DLQs are listed with
    their bookings.
    """
    state = get_state(ctx)
    out = state.output(json_mode)
    event, seat = _check_id(event, "--event"), _check_id(seat, "--seat")
    out.target(state.factory.describe_target())
    names = _names(state)
    queues, dlq = _queues(state, names)
    store = BookingStore(state.factory.client("dynamodb"), names.physical("BookingsTable"))
    report = inspect_table(
        store,
        queues=queues,
        dlq_messages=dlq,
        event_id=event,
        seat_id=seat,
        now=time.time(),
        republish_after_s=state.settings.bookings.republish_after_s,
    )
    doc = report.as_dict()

    def render() -> None:
        out.table(
            None, ["queue", "visible", "in flight"], [[q.logical, q.visible, q.in_flight] for q in queues]
        )
        for s in doc["seats"]:
            out.table(
                f"{s['event_id']}/{s['seat_id']}: {s['state']} (holder {s['holder'] or '-'})",
                ["position", "booking", "state", "charges"],
                [[b["position"], b["booking_id"], b["state"], b["charges"]] for b in s["bookings"]],
            )
        if not doc["seats"]:
            out.info("no seats booked" + (" matching the filter" if event or seat else ""))
        for m in doc["dlq_messages"]:
            out.info(
                f"[yellow]{m['logical']}[/yellow]: message {m['message_id']} for booking {m['booking_id']} "
                f"({m['event_id']}/{m['seat_id']})"
            )
        if doc["violations"]:
            for v in doc["violations"]:
                out.info(
                    f"[red]violation[/red] {v['rule']} {escape(v['event_id'])}/{escape(v['seat_id'])}: "
                    f"{escape(v['detail'])}"
                )
        else:
            out.info("[green]no violations[/green]")

    out.result(doc, render)
    if not report.ok:
        raise typer.Exit(1)


# -- republish -------------------------------------------------------------------------------------------


@app.command("republish")
def republish(
    ctx: typer.Context,
    older_than: Annotated[
        float | None,
        typer.Option(
            "--older-than", min=0.0, help="Seconds since acceptance (default [bookings] republish_after_s)."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be republished.")] = False,
    json_mode: JsonOpt = False,
) -> None:
    """The outbox sweep: publish again every booking whose publish to BookingTopic was never confirmed.

    Safe to repeat: the consumers are idempotent and SNS FIFO deduplicates by booking id. Exit 1 when a
    publish failed.
    """
    state = get_state(ctx)
    out = state.output(json_mode)
    out.target(state.factory.describe_target())
    names = _names(state)
    factory = state.factory
    store = BookingStore(factory.client("dynamodb"), names.physical("BookingsTable"))
    publisher = SnsPublisher(factory.client("sns"), names.arn("BookingTopic"))
    after = state.settings.bookings.republish_after_s if older_than is None else older_than
    result = republish_pending(store, publisher, older_than_s=after, dry_run=dry_run)
    doc = {
        "dry_run": dry_run,
        "pending": result.pending,
        "republished": result.republished,
        "failed": [{"booking_id": b, "error": e} for b, e in result.failed.items()],
    }

    def render() -> None:
        verb = "would republish" if dry_run else "republished"
        count = len(result.pending) if dry_run else len(result.republished)
        out.info(f"{verb} {count} booking(s)" + (f"; {len(result.failed)} failed" if result.failed else ""))
        for b, e in result.failed.items():
            out.info(f"[red]failed[/red] {b}: {escape(e)}")

    out.result(doc, render)
    if result.failed:
        raise typer.Exit(1)
