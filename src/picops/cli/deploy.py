"""`picops deploy`: build the Lambda bundle once, ship it to the stack's functions, move alias `live` (at
once, or gradually with `--strategy`, watching alarms); `deploy status|history|rollback` (docs/provision.md).

`--rollback FUNCTION` moves `live` back one published version instead.

`deploy` is a group whose first word, when it is not one of its subcommands, belongs to the deploy itself:
`picops deploy IngestFunction` and `picops deploy --json` work as they always have (no function is named
status, history or rollback).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from picops.cli.output import Output
from picops.cli.state import get_state
from picops.errors import UsageError, input_field
from picops.provision.bundle import MIB, Bundle, build_bundle
from picops.provision.deploy import (
    FunctionResult,
    deploy_functions,
    s3_route,
    select_functions,
)
from picops.provision.preflight import preflight_model
from picops.provision.release import manage
from picops.provision.release import run as release
from picops.provision.release.shift import Shift
from picops.provision.release.strategy import parse_strategy
from picops.stack.build import build_model

DEFAULT = "functions"
SUMMARY = (
    "Build the Lambda bundle and deploy it: new code or configuration only where it differs, a published\n"
    "version, and alias `live` moved onto it (event sources and the API invoke `live`)."
)


class DeployGroup(TyperGroup):
    """`picops deploy [OPTIONS] [FUNCTION]...` or `picops deploy COMMAND`: anything but a subcommand's name
    goes to the hidden default command, whose arguments and options the group's help shows as its own."""

    _parsing = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from picops.cli.app import _hide_flag_types

        # Kept out of `commands`, so help, the docs and the command tree show it only as the group's own.
        self._default = self.commands.pop(DEFAULT)
        _hide_flag_types(self._default)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return self._default if cmd_name == DEFAULT else super().get_command(ctx, cmd_name)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] in ctx.help_option_names:
            typer.echo(ctx.get_help(), color=ctx.color)
            ctx.exit()
        if not args or args[0] not in self.list_commands(ctx):
            args = [DEFAULT, *args]
        self._parsing = True
        try:
            return list(super().parse_args(ctx, args))
        finally:
            self._parsing = False

    def get_params(self, ctx: Any) -> list[Any]:
        own: list[Any] = super().get_params(ctx)
        # A subcommand's usage line reads the group's params with its own context: the group's own only.
        if self._parsing or ctx.command is not self:
            return own
        shown = [p for p in self._default.get_params(ctx) if p.name != "help"]
        return [*shown, *own]

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return ["[OPTIONS]", "[FUNCTION]...", "|", "COMMAND", "[ARGS]..."]


app = typer.Typer(cls=DeployGroup, help=SUMMARY, no_args_is_help=False)


@app.command(DEFAULT, hidden=True, help=SUMMARY)
def deploy(
    ctx: typer.Context,
    functions: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="FUNCTION",
            help="Functions to deploy: logical names (IngestFunction) or physical names. Default: all.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Build the bundle and report what would change; change nothing.")
    ] = False,
    rollback: Annotated[
        str | None,
        typer.Option(
            "--rollback",
            metavar="FUNCTION",
            help="Move FUNCTION's alias `live` back one published version (no build).",
        ),
    ] = None,
    refresh_deps: Annotated[
        bool,
        typer.Option(
            "--refresh-deps", help="Re-resolve the bundled dependencies instead of using the cache."
        ),
    ] = False,
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy",
            metavar="STRATEGY",
            help="How alias `live` moves to the new version: all-at-once (the default), canary10-5m, "
            "canary10-10m, canary10-15m, canary10-30m, linear10-1m, linear10-2m, linear10-3m, linear10-10m "
            "(CodeDeploy's predefined Lambda configurations), or canary:P%:Mmin / linear:P%:Mmin. A gradual "
            "one rolls back when a watched alarm fires.",
            show_default=False,
        ),
    ] = None,
    alarm: Annotated[
        list[str] | None,
        typer.Option(
            "--alarm",
            metavar="NAME",
            help="A CloudWatch alarm the release watches (repeatable). Default: each function's own Errors, "
            "Throttles and DLQ alarms.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Deploy even though a watched alarm is already in ALARM (the fix); it is ignored."
        ),
    ] = False,
    no_wait: Annotated[
        bool,
        typer.Option(
            "--no-wait", help="Start a gradual release and return; `picops deploy status` follows it."
        ),
    ] = False,
    # Not for users (a canary shortened is no canary): tests and the demo run a 5-minute step in a moment.
    interval_scale: Annotated[
        float, typer.Option("--interval-scale", hidden=True, help="Scale every hold.")
    ] = 1.0,
    json_mode: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Build the Lambda bundle and deploy it: new code or configuration only where it differs, a published
    version, and alias `live` moved onto it (event sources and the API invoke `live`)."""
    state = get_state(ctx)
    out = state.output(json_mode)
    request = _request(strategy, alarm, force, interval_scale, no_wait)
    if rollback is not None and (functions or request.explicit):
        raise UsageError("--rollback takes one FUNCTION and no other function arguments or release options")
    if no_wait and request.strategy.gradual and state.factory.is_local:
        raise UsageError(
            f"{input_field('no_wait')}: on a local endpoint picops drives the release itself, so it has to "
            "stay to the end",
            hint="on AWS, CodeDeploy runs a release without picops; leave out --no-wait here",
        )
    out.target(state.factory.describe_target())
    model = build_model(
        state.settings, state.factory.account_id(), state.factory.region, local=state.factory.is_local
    )
    if rollback is not None:
        _rollback_one(state, out, model, rollback, dry_run)
        return
    specs = select_functions(model, functions or [])
    # The same wiring checks as provision (a sweeper timeout its margin eats, visibility under 6x a
    # consumer's timeout): deploy changes timeouts too.
    preflight_model(model)
    watched = release.check_alarms(state.factory, model, specs, request, _local_watch(state, model))
    for name in sorted(watched.ignored):
        out.warn(f"alarm {name} is already in ALARM: --force deploys over it, and the release ignores it")
    _ship(state, out, model, specs, request, watched, dry_run=dry_run, refresh_deps=refresh_deps)


def _request(
    strategy: str | None, alarms: list[str] | None, force: bool, scale: float, no_wait: bool
) -> release.Request:
    if not scale > 0:
        raise UsageError("--interval-scale must be a positive number")
    return release.Request(
        parse_strategy(strategy),
        tuple(alarms or ()),
        force=force,
        scale=scale,
        explicit=strategy is not None or bool(alarms),
        no_wait=no_wait,
    )


def _rollback_one(state: Any, out: Output, model: Any, function: str, dry_run: bool) -> None:
    (spec,) = select_functions(model, [function])
    (result,) = manage.rollback(
        # `--rollback` has always meant one published version back, whatever the history says.
        state.factory,
        model,
        [spec],
        dry_run=dry_run,
        by_history=False,
        on_warning=out.warn,
    )
    rollback_doc = {"functions": [result.as_dict()], "dry_run": dry_run}
    verb = "would move" if dry_run else "moved"
    out.result(
        rollback_doc,
        lambda: out.info(
            f"{result.logical} ({result.name}): alias live {verb} from version "
            f"{result.previous_version} to {result.version}"
        ),
    )


def _ship(
    state: Any,
    out: Output,
    model: Any,
    specs: list[Any],
    request: release.Request,
    watched: release.Watched,
    *,
    dry_run: bool,
    refresh_deps: bool,
) -> None:
    settings, factory = state.settings, state.factory
    out.status(f"building the Lambda bundle ({settings.deploy.runtime}, {settings.deploy.architecture})...")
    # Only the functions being deployed need their handler; on a local endpoint the runtime reports them.
    entry_points = {} if factory.is_local else {spec.logical: spec.handler for spec in specs}
    bundle = build_bundle(settings, refresh=refresh_deps, entry_points=entry_points)
    for warning in bundle.warnings:
        out.warn(warning)
    route = s3_route(settings, bundle)
    if factory.is_local and not dry_run:
        # The local runtime runs a version a release routes to from this very zip (picops.local.versions).
        from picops.local.versions import keep_bundle

        keep_bundle(bundle.path, bundle.code_sha256)

    def progress(result: FunctionResult) -> None:
        version = f" -> version {result.version}" if result.version else ""
        out.status(f"  {result.logical}: {result.action}{version}")

    if dry_run:
        results = deploy_functions(factory, settings, specs, bundle, dry_run=True, on_result=progress)
    else:
        hooks = release.Hooks(
            on_result=progress,
            on_step=lambda s: _step(out, s),
            on_warning=out.warn,
            watch=_local_watch(state, model),
            on_deployment=lambda s, status, deployment: out.status(
                f"  {s.logical}: CodeDeploy deployment {deployment} {status}"
            ),
        )
        results = release.release(factory, settings, model, specs, bundle, request, watched, hooks)
    doc: dict[str, Any] = {
        "functions": [r.as_dict() for r in results],
        "dry_run": dry_run,
        "bundle": _bundle_doc(bundle, route),
    }
    out.result(doc, lambda: _render(out, bundle, route, results, dry_run))
    _exit_on_failure(out, results)


def _local_watch(state: Any, model: Any) -> Any:
    """On a local endpoint no CloudWatch evaluates metrics: the alarms are evaluated from the local
    runtime's records, counted from now (picops.local.alarm_watch)."""
    if not state.factory.is_local:
        return None
    from picops.local.alarm_watch import LocalAlarms

    return LocalAlarms(model, state.factory.client("sqs"))


def _step(out: Output, shift: Shift) -> None:
    if shift.outcome == "in-progress":
        out.status(f"  {shift.logical}: {shift.weight}% of traffic on version {shift.new}")
    elif shift.outcome == "succeeded":
        out.status(f"  {shift.logical}: all traffic on version {shift.new}")
    else:
        why = f" (alarm {shift.alarm} in ALARM)" if shift.alarm else ""
        out.status(f"  {shift.logical}: {shift.outcome}{why}: all traffic back on version {shift.old}")


def _exit_on_failure(out: Output, results: list[FunctionResult]) -> None:
    failed = [r for r in results if r.action == "failed"]
    for r in failed:
        out.error(f"{r.logical} ({r.name}): {r.error}")
    undone = [r for r in results if r.outcome in {"rolled-back", "stopped"}]
    for r in undone:
        why = f": alarm {r.alarm} fired" if r.alarm else ""
        out.error(f"{r.logical} ({r.name}): {r.outcome}{why}; alias live serves version {r.version}")
    if failed or undone:
        raise typer.Exit(1)


def _bundle_doc(bundle: Bundle, route: tuple[str, str] | None) -> dict[str, Any]:
    return {
        "path": str(bundle.path),
        "code_sha256": bundle.code_sha256,
        "size_bytes": bundle.size_bytes,
        "unzipped_bytes": bundle.unzipped_bytes,
        "files": bundle.files,
        "runtime": bundle.runtime,
        "architecture": bundle.architecture,
        "dependency_source": bundle.source,
        "dependencies": list(bundle.dependencies),
        "budget": bundle.budget(),
        "upload": f"s3://{route[0]}/{route[1]}" if route else "direct",
        "warnings": list(bundle.warnings),
    }


def _render(
    out: Output,
    bundle: Bundle,
    route: tuple[str, str] | None,
    results: list[FunctionResult],
    dry_run: bool,
) -> None:
    out.info(f"[bold]Bundle[/bold] {bundle.path.name}  CodeSha256 {bundle.code_sha256}")
    deps = ", ".join(bundle.dependencies) or "no dependencies"
    out.human.print(f"  {bundle.files} files: picops + {deps}", markup=False)
    budget = bundle.budget()
    out.table(
        "Size budget (Lambda limits)",
        ["", "size", "limit", "used"],
        [
            [
                "zipped (direct upload)",
                _mb(bundle.size_bytes),
                _mb(bundle.limits.direct_upload_bytes),
                f"{budget['zipped_pct']}%",
            ],
            [
                "unzipped (code + layers)",
                _mb(bundle.unzipped_bytes),
                _mb(bundle.limits.unzipped_bytes),
                f"{budget['unzipped_pct']}%",
            ],
        ],
    )
    out.info(f"upload: {'s3://' + route[0] + '/' + route[1] if route else 'direct (in the request)'}")
    # One line per function rather than a table: names stay whole in narrow terminals and logs.
    out.info("[bold]Functions[/bold]" + (" (dry run: nothing was changed)" if dry_run else ""))
    for r in results:
        version = f"live version {r.version}" if r.version else "no live version yet"
        changes = f" (changes: {', '.join(r.changes)})" if r.changes else ""
        released = f", {r.strategy} {r.outcome}" if r.strategy and r.outcome else ""
        out.human.print(f"  {r.logical} ({r.name}): {r.action}, {version}{changes}{released}", markup=False)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.action] = counts.get(r.action, 0) + 1
    prefix = "would be " if dry_run else ""
    out.info(
        ", ".join(
            f"{n} {'' if action == 'unchanged' else prefix}{action}" for action, n in sorted(counts.items())
        )
    )


def _mb(size: int) -> str:
    return f"{size / MIB:.1f} MB"


# -- status, history, rollback -----------------------------------------------------------------------------

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def _target(ctx: typer.Context, json_mode: bool) -> tuple[Any, Output, Any]:
    state = get_state(ctx)
    out = state.output(json_mode)
    out.target(state.factory.describe_target())
    factory = state.factory
    return (
        state,
        out,
        build_model(state.settings, factory.account_id(), factory.region, local=factory.is_local),
    )


@app.command("status")
def status(ctx: typer.Context, json_mode: JsonOpt = False) -> None:
    """Each function's alias `live`: version served, release in progress, last release, alarm states."""
    state, out, model = _target(ctx, json_mode)
    rows = manage.status_of(state.factory, model, model.functions())
    out.result({"functions": rows}, lambda: _render_status(out, rows))


def _render_status(out: Output, rows: list[dict[str, Any]]) -> None:
    table = []
    for row in rows:
        serving = row["version"] or "-"
        for version, weight in row["weights"].items():
            serving += f" ({round(100 - weight * 100)}%) + {version} ({round(weight * 100)}%)"
        last = row["last"]
        release_text = f"{last['version']} {last['strategy']} {last['outcome']} {last['at']}" if last else "-"
        firing = [a["name"] for a in row["alarms"] if a["state"] == "ALARM"]
        alarms = f"{len(row['alarms'])} ok" if not firing else "ALARM: " + ", ".join(firing)
        table.append([row["logical"], serving, release_text, alarms if row["alarms"] else "-"])
    out.table("Alias live", ["function", "version", "last release", "alarms"], table)


@app.command("history")
def history(
    ctx: typer.Context,
    function: Annotated[
        str | None,
        typer.Argument(metavar="FUNCTION", help="One function (logical or physical name). Default: all."),
    ] = None,
    json_mode: JsonOpt = False,
) -> None:
    """Every release of alias `live`, newest first: version, when, by whom, strategy and outcome."""
    state, out, model = _target(ctx, json_mode)
    specs = select_functions(model, [function] if function else [])
    records = [r.as_dict() for r in manage.history_of(state.factory, model, specs)]
    out.result({"history": records}, lambda: _render_history(out, records))


def _render_history(out: Output, records: list[dict[str, Any]]) -> None:
    # One line per release rather than a table: the caller's ARN stays whole in narrow terminals and logs.
    for r in records:
        previous = f" (from {r['previous_version']})" if r["previous_version"] else ""
        alarm = f" on {r['alarm']}" if r["alarm"] else ""
        out.human.print(
            f"{r['at']}  {r['function']}  version {r['version']}{previous}  {r['strategy']}  "
            f"{r['outcome']}{alarm}  by {r['by']}",
            markup=False,
        )
    if not records:
        out.info("no releases recorded")


@app.command("rollback")
def rollback_command(
    ctx: typer.Context,
    functions: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="FUNCTION", help="Functions to roll back (logical or physical names). Default: all."
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="VERSION",
            help="The published version to put `live` on (one FUNCTION only). Default: the version it was "
            "on before its last release, else one published version back.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would move; change nothing.")
    ] = False,
    json_mode: JsonOpt = False,
) -> None:
    """Move alias `live` back for all its traffic (no build), recorded in the history."""
    state, out, model = _target(ctx, json_mode)
    specs = select_functions(model, functions or [])
    results = manage.rollback(state.factory, model, specs, to=to, dry_run=dry_run, on_warning=out.warn)
    verb = "would move" if dry_run else "moved"

    def render() -> None:
        for r in results:
            out.info(
                f"{r.logical} ({r.name}): alias live {verb} from version {r.previous_version} to {r.version}"
            )

    out.result({"functions": [r.as_dict() for r in results], "dry_run": dry_run}, render)
