"""`picops trace booking|seat|object`: one timeline, oldest first, of everything the stack knows about one
booking, seat or uploaded object, ending with a verdict line. See docs/operating.md, "Tracing".

Records come from the tables and the bucket (`picops.core.trace`); log lines from every function of the
stack that logged the thing's correlation ids: the per-function log files on a local endpoint, one Logs
Insights query across the stack's log groups on AWS.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Annotated

import typer

from picops.cli.events import stack_model
from picops.cli.output import Output
from picops.cli.state import AppState, get_state
from picops.core.bookings.store import BookingStore
from picops.core.ingest.jobs import JobStore
from picops.core.tagging.verdicts import VerdictLookup
from picops.core.trace import Entry, Timeline
from picops.core.trace import logs as trace_logs
from picops.core.trace import queues as trace_queues
from picops.core.trace.bookings import trace_booking, trace_seat
from picops.core.trace.objects import moderation_of, trace_object
from picops.core.trace.timeline import iso_ms
from picops.core.trace.xray import xray_of
from picops.errors import UsageError
from picops.local import logfiles
from picops.stack.model import StackModel
from picops.stack.names import StackNames

app = typer.Typer(
    help="Follow one booking, seat or uploaded object through every function, queue and table.",
    no_args_is_help=True,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
# How far before the first record the log search starts (a consumer logs before it writes).
LOG_MARGIN_MS = 5 * 60 * 1000
_MAX_FIELDS = 4
# In the table, ids every row of the trace shares or that only --json needs.
_QUIET = frozenset(
    {"event_id", "seat_id", "idempotency_key", "seat", "bucket", "etag", "message_id", "outputs"}
)


def _names(state: AppState) -> StackNames:
    return StackNames(state.settings, state.factory.account_id(), state.factory.region)


def _log_entries(state: AppState, model: StackModel, match: trace_logs.Match, start_ms: int) -> list[Entry]:
    functions = list(model.functions())
    if state.factory.is_local:
        found: list[Entry] = []
        for spec in functions:
            events, _ = logfiles.read(logfiles.log_path(spec.name))
            found += trace_logs.from_events(spec.logical, events, match)
        return found
    groups = {
        (model.get(f.log_group).name if f.log_group in model else f"/aws/lambda/{f.name}"): f.logical
        for f in functions
    }
    now_ms = int(time.time() * 1000)
    return trace_logs.query_insights(state.factory.client("logs"), groups, match, start_ms, now_ms)


def _with_logs(
    state: AppState,
    timeline: Timeline,
    match: trace_logs.Match,
    *,
    keep: Callable[[Entry], bool] = lambda _: True,
) -> Timeline:
    model = stack_model(state, announce=False)
    first = min((e.at_ms for e in timeline.entries), default=int(time.time() * 1000))
    lines = [e for e in _log_entries(state, model, match, first - LOG_MARGIN_MS) if keep(e)]
    timeline.add(lines)
    factory = state.factory
    xray = xray_of(
        lines, region=factory.region, tracing=state.settings.observability.tracing, local=factory.is_local
    )
    timeline.xray_trace_ids, timeline.xray_links, timeline.xray_note = xray.trace_ids, xray.links, xray.note
    return timeline


def _with_queues(
    state: AppState, names: StackNames, timeline: Timeline, logicals: tuple[str, ...], needles: list[str]
) -> Timeline:
    """The messages of the stack's queues and DLQs that mention the thing, peeked (left in place)."""
    sqs = state.factory.client("sqs")
    queues, missing = trace_queues.stack_queues(sqs, names, logicals)
    entries, gaps = trace_queues.queue_entries(sqs, queues, needles)
    timeline.add(entries)
    timeline.gaps += missing + gaps
    return timeline


def _fields(entry: Entry) -> str:
    shown = [
        f"{k}={v if isinstance(v, str) else json.dumps(v, default=str)}"
        for k, v in entry.fields.items()
        if v is not None and k not in _QUIET
    ]
    return " ".join(shown[:_MAX_FIELDS])


def _render(out: Output, timeline: Timeline) -> None:
    def human() -> None:
        out.info(timeline.subject)
        out.table(
            None,
            ["time", "source", "what", "key fields"],
            [[iso_ms(e.at_ms), e.source, e.what, _fields(e)] for e in timeline.ordered()],
        )
        for gap in timeline.gaps:
            out.warn(gap)
        for link in timeline.xray_links:
            out.info(f"X-Ray: {link}")
        if timeline.xray_note:
            out.info(timeline.xray_note)
        out.info(f"verdict: {timeline.verdict}")

    out.result(timeline.as_dict(), human)
    if not timeline.ok:
        raise typer.Exit(1)


def _begin(ctx: typer.Context, json_mode: bool) -> tuple[AppState, Output, StackNames]:
    state = get_state(ctx)
    out = state.output(json_mode)
    out.target(state.factory.describe_target())
    return state, out, _names(state)


def _store(state: AppState, names: StackNames) -> BookingStore:
    return BookingStore(state.factory.client("dynamodb"), names.physical("BookingsTable"))


@app.command("booking")
def booking(
    ctx: typer.Context,
    booking_id: Annotated[str, typer.Argument(metavar="ID", help="The booking id POST /bookings answered.")],
    json_mode: JsonOpt = False,
) -> None:
    """A booking: its acceptance, the charges of every booking ahead of it on its seat and its own, both
    consumers' log lines, and a verdict ("charged once; seat SOLD to this booking"). Exit 1 on a FAILED
    verdict, 3 when there is no such booking."""
    state, out, names = _begin(ctx, json_mode)
    timeline = trace_booking(_store(state, names), booking_id)
    seat = timeline.state["seat"]
    match = [{"booking_id": booking_id}, {"event_id": seat["event_id"], "seat_id": seat["seat_id"]}]
    # The seat's lines about bookings behind this one cannot have changed what happened to it.
    mine = next(e["position"] for e in seat["line"] if e["booking_id"] == booking_id)
    ahead = {e["booking_id"] for e in seat["line"] if e["position"] <= mine}
    _with_queues(state, names, timeline, trace_queues.BOOKING_QUEUES, [booking_id])
    _render(
        out,
        _with_logs(state, timeline, match, keep=lambda e: e.fields.get("booking_id", booking_id) in ahead),
    )


@app.command("seat")
def seat(
    ctx: typer.Context,
    seat_ref: Annotated[str, typer.Argument(metavar="EVENT/SEAT", help="The seat, as `event/seat`.")],
    json_mode: JsonOpt = False,
) -> None:
    """A seat: every booking in its line, every charge attempt, the consumers' log lines, and a verdict
    ("charged once; seat SOLD to booking B"). Exit 1 on a FAILED verdict, 3 when nobody asked for it."""
    event_id, _, seat_id = seat_ref.partition("/")
    if not event_id or not seat_id:
        raise UsageError(f"EVENT/SEAT {seat_ref!r}: give the event and the seat, as gala/A1")
    state, out, names = _begin(ctx, json_mode)
    timeline = trace_seat(_store(state, names), event_id, seat_id)
    _render(out, _with_logs(state, timeline, [{"event_id": event_id, "seat_id": seat_id}]))


@app.command("object")
def object_(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(metavar="KEY", help="Object key in UploadsBucket (not URL-encoded).")],
    version: Annotated[
        str | None, typer.Option("--version", metavar="V", help="Only this version id (or ETag).")
    ] = None,
    json_mode: JsonOpt = False,
) -> None:
    """An uploaded object: its versions, ingest jobs (outputs or reason, renditions, notification), its
    moderation tag, the log lines of every function that handled it, and a verdict ("FAILED: <reason>").
    Exit 1 on a FAILED verdict, 3 when neither the object nor a job for it exists."""
    state, out, names = _begin(ctx, json_mode)
    factory = state.factory
    jobs = JobStore(factory.client("dynamodb"), names.physical("JobsTable"))
    conf = state.settings.moderation
    lookup = VerdictLookup(
        factory.client("dynamodb"),
        names.moderation_table,
        key_attribute=conf.key_attribute,
        status_attribute=conf.status_attribute,
    )
    timeline = trace_object(
        factory.client("s3"),
        jobs,
        names.uploads_bucket,
        key,
        version,
        tag_key=conf.tag_key,
        moderation=moderation_of(lookup, jobs, names.uploads_bucket, key),
    )
    _with_queues(state, names, timeline, trace_queues.OBJECT_QUEUES, trace_queues.object_needles(key))
    match: trace_logs.Match = [{"key": key, **({"version_id": version} if version else {})}]
    _render(out, _with_logs(state, timeline, match))
