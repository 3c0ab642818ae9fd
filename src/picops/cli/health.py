"""`picops health`: one screen of the three pipelines, each check green, amber or red, with the fix."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.markup import escape

from picops.cli import hints
from picops.cli.output import Output
from picops.cli.state import AppState, get_state
from picops.core.health import RED, Check, Readers, check_health, worst
from picops.errors import UsageError

_STYLE = {"green": "green", "amber": "yellow", "red": "red", "none": "dim"}
_MARK = {"green": "ok", "amber": "warn", "red": "FAIL", "none": "-"}


def health(
    ctx: typer.Context,
    watch: Annotated[
        bool, typer.Option("--watch", help="Redraw every --interval seconds until Ctrl-C.")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", metavar="S", min=1.0, help="With --watch: seconds between reads.")
    ] = 10.0,
    json_mode: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Alarm states, queue and DLQ depths with the oldest message's age, the stream's iterator age, the
    bookings outbox, seats PAYING past their lease and the last 24 h of ingest failures: green, amber or red,
    each with the first command to run. Exit 1 when any check is red. See docs/operating.md."""
    state = get_state(ctx)
    if watch and json_mode:
        raise UsageError("--watch redraws a screen: give --json or --watch, not both")
    out = state.output(json_mode)
    out.target(state.factory.describe_target())
    checks = _read(state)
    while watch:
        out.human.clear()
        out.target(state.factory.describe_target())
        _render(out, checks, state.hint_target())
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            return  # Ctrl-C is how a watch ends
        checks = _read(state)
    document = _document(state, checks)
    out.result(document, lambda: _render(out, checks, state.hint_target()))
    if document["level"] == RED:
        raise typer.Exit(1)


def _read(state: AppState) -> list[Check]:
    from picops.stack.build import build_model
    from picops.stack.names import StackNames

    factory, settings = state.factory, state.settings
    account = factory.account_id()
    model = build_model(settings, account, factory.region, local=factory.is_local)
    readers = Readers(factory.client("sqs"), factory.client("cloudwatch"), factory.client("dynamodb"))
    names = StackNames(settings, account, factory.region)
    return check_health(readers, model, names, republish_after_s=settings.bookings.republish_after_s)


def _document(state: AppState, checks: list[Check]) -> dict[str, Any]:
    target = state.hint_target()
    return {
        "stack": state.settings.stack.name,
        "level": worst(checks),
        "checks": [c.as_dict() | {"action": _command(c, target)} for c in checks],
    }


def _command(check: Check, target: hints.Target) -> str:
    if not check.action:
        return ""
    return hints.rewrite(check.action, target).strip("`")


def _render(out: Output, checks: list[Check], target: hints.Target) -> None:
    """Plain aligned lines grouped by pipeline, the command on a line of its own: a table would fold a
    command at the terminal's width, and the command is what the operator copies."""
    width = max((len(c.name) for c in checks), default=0)
    pipeline = None
    for check in checks:
        if check.pipeline != pipeline:
            pipeline = check.pipeline
            out.human.print(f"[bold]{pipeline}[/]", highlight=False)
        style = _STYLE[check.level]
        out.human.print(
            f"  [{style}]{_MARK[check.level]:<4}[/] {escape(check.name.ljust(width))}  {escape(check.value)}",
            highlight=False,
        )
        if check.action:
            out.human.print(f"       run: {escape(_command(check, target))}", highlight=False)
    level = worst(checks)
    reds = sum(1 for c in checks if c.level == RED)
    summary = f"{reds} red" if reds else "nothing red"
    out.human.print(f"health: [{_STYLE[level]}]{level}[/] ({summary}, {len(checks)} checks)")
