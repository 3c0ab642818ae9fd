"""`picops dlq`: list, peek, redrive, replay and purge dead-letter queues without losing a message."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from picops.cli import costs
from picops.cli.confirm import confirm
from picops.cli.output import Output
from picops.cli.state import AppState, get_state
from picops.core.dlq import (
    ManualRedrive,
    RedriveInterrupted,
    RedriveOptions,
    RedrivePlan,
    RedriveStats,
    Router,
    arn_resolver,
    compile_filter,
    dlq_info,
    native_redrive,
    peek_messages,
    peek_record,
    plan_redrive,
    purge_queue,
    region_dlqs,
    replay_archive,
    resolve_queue,
    stack_dlqs,
)
from picops.stack.names import StackNames

app = typer.Typer(
    help="Dead-letter queues: list, peek, redrive (native or manual), replay archives, purge.",
    no_args_is_help=True,
)

QueueArg = Annotated[
    str, typer.Argument(metavar="QUEUE", help="Queue name, URL, ARN, or stack logical name (e.g. IngestDLQ).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def _names(state: AppState) -> StackNames:
    factory = state.factory
    return StackNames(state.settings, factory.account_id(), factory.region)


def _begin(ctx: typer.Context, json_mode: bool) -> tuple[AppState, Output, Any]:
    state = get_state(ctx)
    out = state.output(json_mode)
    out.target(state.factory.describe_target())
    return state, out, state.factory.client("sqs")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


@app.command("list")
def list_dlqs(
    ctx: typer.Context,
    all_queues: Annotated[
        bool, typer.Option("--all", help="Every DLQ in the region, not only the stack's.")
    ] = False,
    json_mode: JsonOpt = False,
) -> None:
    """The stack's DLQs (or every DLQ in the region): sources, maxReceiveCount, counts, oldest message age."""
    state, out, sqs = _begin(ctx, json_mode)
    cloudwatch = state.factory.client("cloudwatch")
    missing: list[str] = []
    unreadable: list[str] = []
    if all_queues:
        queues = region_dlqs(sqs, unreadable)
    else:
        queues, missing = stack_dlqs(sqs, _names(state))
    infos = [dlq_info(sqs, cloudwatch, q) for q in queues]
    for logical in missing:
        out.warn(f"{logical} does not exist (not provisioned?)")
    if unreadable:
        out.warn(
            f"skipped {len(unreadable)} queue(s) this identity may not read (AccessDenied on "
            f"GetQueueAttributes): {', '.join(unreadable[:3])}{' ...' if len(unreadable) > 3 else ''}"
        )

    def render() -> None:
        if not infos:
            out.info("no dead-letter queues found")
            return
        out.table(
            "Dead-letter queues",
            ["DLQ", "type", "sources (maxReceiveCount)", "visible", "in flight", "oldest"],
            [
                [
                    f"{i.name} ({i.logical})" if i.logical else i.name,
                    "FIFO" if i.fifo else "standard",
                    ", ".join(f"{s.name} ({s.max_receive_count})" for s in i.sources) or "-",
                    i.visible,
                    i.in_flight,
                    _age(i.oldest_age_s),
                ]
                for i in infos
            ],
        )

    out.result(
        {
            "scope": "region" if all_queues else "stack",
            "dlqs": [i.as_dict() for i in infos],
            "missing": missing,
            "unreadable": unreadable,
        },
        render,
    )


@app.command("peek")
def peek(
    ctx: typer.Context,
    queue: QueueArg,
    count: Annotated[int, typer.Option("-n", "--count", min=1, max=1000, help="How many messages.")] = 10,
    full: Annotated[bool, typer.Option("--full", help="Show whole bodies (default: truncated).")] = False,
    json_mode: JsonOpt = False,
) -> None:
    """Show messages (id, sent time, receive count, group, attributes, body) and leave them in the queue."""
    state, out, sqs = _begin(ctx, json_mode)
    ref = resolve_queue(sqs, queue, _names_if_logical(state, queue))
    out.warn("peeking receives each message, which adds 1 to its receive count")
    messages = peek_messages(sqs, ref, count)
    records = [peek_record(m, full=full) for m in messages]

    def render() -> None:
        if not records:
            out.info(f"{ref.name} has no visible messages")
            return
        for r in records:
            out.key_values(
                {
                    "message id": r["message_id"],
                    "sent": r["sent_at"],
                    "receive count": r["receive_count"],
                    **({"group": r["group_id"]} if r["group_id"] else {}),
                    # One line per attribute (not a Python dict): names and values read and copy cleanly.
                    **_attribute_lines(r["message_attributes"]),
                    "body": r["body"],
                }
            )
            out.info("")

    out.result({"queue": ref.arn, "count": len(records), "messages": records}, render)


def _attribute_lines(attributes: dict[str, str]) -> dict[str, str]:
    if not attributes:
        return {"attributes": "-"}
    return {f"attribute {name}": value for name, value in sorted(attributes.items())}


def _names_if_logical(state: AppState, *specs: str | None) -> StackNames | None:
    from picops.stack.names import logical_names

    return _names(state) if any(s in logical_names() for s in specs if s) else None


@contextmanager
def _finish_batch_on_ctrl_c(stop: threading.Event, out: Output) -> Iterator[None]:
    """First Ctrl-C: finish the batch in flight, then stop (exit 130). Second Ctrl-C: abort at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        out.warn("stopping after the batch in flight (Ctrl-C again to abort now)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@app.command("redrive")
def redrive(
    ctx: typer.Context,
    queue: QueueArg,
    to: Annotated[
        str | None,
        typer.Option("--to", metavar="QUEUE", help="Destination (default: the DLQ's source queue(s))."),
    ] = None,
    max_messages: Annotated[
        int | None, typer.Option("--max", metavar="N", min=1, help="Move at most N messages.")
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option("--rate", metavar="MSG_PER_S", help="At most this many messages per second."),
    ] = None,
    filter_expression: Annotated[
        str | None,
        typer.Option(
            "--filter",
            metavar="JMESPATH",
            help="Move only messages where this is truthy, over {body, message_attributes, attributes, "
            "group_id, message_id}; e.g. \"body.kind == 'thumb'\". Misses stay in the DLQ unchanged.",
        ),
    ] = None,
    archive: Annotated[
        Path | None,
        typer.Option(
            "--archive", metavar="FILE.jsonl", help="Append each message here (fsynced) before sending."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would move; move nothing.")] = False,
    native: Annotated[
        bool,
        typer.Option(
            "--native/--no-native",
            help="Use SQS's message move task when it applies (not on local endpoints).",
        ),
    ] = True,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    visibility_timeout: Annotated[
        int,
        typer.Option(
            "--visibility-timeout",
            metavar="SECONDS",
            min=1,
            max=43200,
            help="Manual path: how long a received batch stays hidden while archived, sent and deleted.",
        ),
    ] = 60,
    json_mode: JsonOpt = False,
) -> None:
    """Move messages from a DLQ back to their source queue (or --to), never deleting an unsent message."""
    state, out, sqs = _begin(ctx, json_mode)
    factory = state.factory
    compile_filter(filter_expression)  # exit 2 on a bad expression before touching any queue
    RedriveOptions(rate=rate).validate()  # exit 2 on a bad --rate before touching any queue
    plan = plan_redrive(
        sqs,
        _names_if_logical(state, queue, to),
        queue,
        to,
        native=native,
        is_local=factory.is_local,
        has_filter=filter_expression is not None,
        has_max=max_messages is not None,
        has_archive=archive is not None,
    )
    out.status(
        f"{plan.dlq.name} ({plan.dlq.kind}, ~{plan.dlq.visible} visible) -> {plan.destination_label}: "
        f"{plan.mode} path" + (f" ({plan.manual_reason})" if plan.manual_reason else "")
    )
    count = plan.dlq.visible if max_messages is None else min(plan.dlq.visible, max_messages)
    estimate = costs.sqs_redrive(count, fifo=plan.dlq.fifo)
    out.status(estimate.line())
    if not dry_run:
        confirm(
            out, f"move up to {count} message(s) from {plan.dlq.name} to {plan.destination_label}", yes=yes
        )
    stats = _run_native(out, sqs, plan, rate, dry_run) if plan.mode == "native" else None
    if stats is None:
        stats = _run_manual(
            out,
            sqs,
            plan,
            RedriveOptions(
                max_messages=max_messages,
                rate=rate,
                filter_expression=filter_expression,
                archive=archive,
                dry_run=dry_run,
                visibility_timeout=visibility_timeout,
                # Long polls ask every SQS server, so a few empty ones (and a count of 0) mean empty;
                # the local endpoint answers exactly and gets shorter ones.
                wait_seconds=1 if factory.is_local else 2,
            ),
        )
    _report(out, stats, estimate)


def _run_native(
    out: Output, sqs: Any, plan: RedrivePlan, rate: float | None, dry_run: bool
) -> RedriveStats | None:
    """The move task; None when the endpoint turns out not to offer it (then the manual path runs)."""

    def fallback(reason: str) -> None:
        out.warn(f"{reason}: using the manual path")

    with out.progress("moving (native task)", total=plan.dlq.visible or None) as progress:

        def on_progress(status: Any) -> None:
            progress.update(progress.task_ids[0], completed=status.moved, total=status.to_move)

        try:
            return native_redrive(
                sqs, plan, rate, dry_run=dry_run, on_progress=on_progress, on_fallback=fallback
            )
        except RedriveInterrupted as exc:
            out.warn(exc.message)
            _emit(out, exc.stats)
            raise typer.Exit(130) from None


def _run_manual(out: Output, sqs: Any, plan: RedrivePlan, options: RedriveOptions) -> RedriveStats:
    stop = threading.Event()
    router = Router(plan.dlq, plan.to, plan.sources, arn_resolver(sqs))
    total = options.max_messages or plan.dlq.visible or None
    with out.progress("redriving", total=total) as progress, _finish_batch_on_ctrl_c(stop, out):

        def on_progress(stats: RedriveStats) -> None:
            progress.update(progress.task_ids[0], completed=stats.moved or stats.would_move)

        mover = ManualRedrive(sqs, plan.dlq, router, options, stop=stop, on_progress=on_progress)
        return mover.run()


def _emit(out: Output, stats: RedriveStats, estimate: costs.Estimate | None = None) -> None:
    doc = stats.as_dict()
    if estimate is not None:
        doc["cost_estimate"] = estimate.as_dict()

    def render() -> None:
        verb = "would move" if stats.dry_run else "moved"
        count = stats.would_move if stats.dry_run else stats.moved
        out.info(
            f"[bold]{verb} {count}[/bold] ({stats.mode}) from {stats.source} to "
            f"{stats.destination or 'their source queues'}; skipped {stats.skipped}, failed {stats.failed}"
            + (f", unroutable {stats.unroutable}" if stats.unroutable else "")
            + (f", held back {stats.held_back}" if stats.held_back else "")
            + f"; stopped: {stats.stopped}"
        )
        if stats.archive:
            out.info(f"archive: {stats.archive}")

    out.result(doc, render)


def _report(out: Output, stats: RedriveStats, estimate: costs.Estimate | None = None) -> None:
    _emit(out, stats, estimate)
    if stats.stopped == "interrupted":
        out.warn("interrupted after finishing the batch in flight; run the same command again to continue")
        raise typer.Exit(130)
    if stats.stopped == "loop_guard":
        out.warn(
            "stopped: the DLQ refilled at least as fast as it drained (are consumers of the destination "
            "still failing?). Fix the consumer, or redrive with --to another queue."
        )
    if stats.stopped == "cancelled":
        out.warn("the message move task was cancelled outside this run; the rest stay in the DLQ")
    if stats.stopped == "stalled":
        out.warn("stopped: the DLQ reports visible messages but receives return none")
    if stats.unroutable:
        out.warn(
            f"{stats.unroutable} message(s) carry no DeadLetterQueueSourceArn and the DLQ has several "
            "sources: they stay in the DLQ; pass --to QUEUE to move them"
        )
    if stats.delete_failed:
        out.warn(f"{stats.delete_failed} message(s) were sent but not deleted: they will be sent again")
    if (
        stats.failed
        or stats.unroutable
        or stats.delete_failed
        or stats.stopped in ("loop_guard", "stalled", "cancelled")
    ):
        raise typer.Exit(1)


@app.command("replay")
def replay(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(metavar="FILE.jsonl", help="An archive written by redrive or purge.")
    ],
    to: Annotated[str, typer.Option("--to", metavar="QUEUE", help="Destination queue.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and count; send nothing.")] = False,
    json_mode: JsonOpt = False,
) -> None:
    """Re-send archived messages with their attributes (and FIFO group/deduplication ids)."""
    state, out, sqs = _begin(ctx, json_mode)
    destination = resolve_queue(sqs, to, _names_if_logical(state, to))
    result = replay_archive(
        sqs,
        file,
        destination_url=destination.url,
        destination_arn=destination.arn,
        fifo=destination.fifo,
        dry_run=dry_run,
    )

    def render() -> None:
        verb = "would send" if dry_run else "sent"
        count = result.total if dry_run else result.sent
        out.info(f"[bold]{verb} {count}[/bold] of {result.total} archived message(s) to {destination.name}")
        if result.failed:
            out.warn(f"{result.failed} message(s) were not accepted: {result.errors[:3]}")

    out.result(result.as_dict(), render)
    if result.failed:
        raise typer.Exit(1)


@app.command("purge")
def purge(
    ctx: typer.Context,
    queue: QueueArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Confirm deleting every message.")] = False,
    archive: Annotated[
        Path | None,
        typer.Option(
            "--archive", metavar="FILE.jsonl", help="Write each message here (fsynced) before deleting."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be purged (with counts); delete nothing.")
    ] = False,
    json_mode: JsonOpt = False,
) -> None:
    """Delete every message in a queue (with --archive, each one is saved first and can be replayed)."""
    state, out, sqs = _begin(ctx, json_mode)
    ref = resolve_queue(sqs, queue, _names_if_logical(state, queue))
    if dry_run:
        delayed = int(ref.attributes.get("ApproximateNumberOfMessagesDelayed", 0) or 0)
        doc: dict[str, Any] = {
            "queue": ref.arn,
            "name": ref.name,
            "dry_run": True,
            "would_purge": {
                "visible": ref.visible,
                "in_flight": ref.in_flight,
                "delayed": delayed,
            },
            "archive": str(archive) if archive else None,
        }
        out.result(
            doc,
            lambda: out.info(
                f"would purge {ref.name}: ~{ref.visible} visible, ~{ref.in_flight} in flight, "
                f"~{delayed} delayed (approximate counts; nothing deleted)"
            ),
        )
        return
    confirm(out, f"delete every message in {ref.name} (~{ref.visible + ref.in_flight})", yes=yes)
    stop = threading.Event()
    with _finish_batch_on_ctrl_c(stop, out):
        result = purge_queue(sqs, ref, archive=archive, stop=stop)

    def render() -> None:
        out.info(
            f"[bold]purged {result.purged}[/bold] message(s) from {ref.name} ({result.mode})"
            + (f"; archive: {result.archive}" if result.archive else "")
        )

    out.result(result.as_dict(), render)
    if result.interrupted:
        raise typer.Exit(130)
