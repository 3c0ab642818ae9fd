"""`picops local`: the embedded AWS endpoint (moto's server on 127.0.0.1)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from picops.cli.state import get_state
from picops.errors import UsageError
from picops.local import endpoint, runtime_lock
from picops.local.handler_logs import LOG_FORMAT_HELP, HandlerLogView, log_format_of

app = typer.Typer(
    help="Run the embedded local AWS endpoint (moto's server, 127.0.0.1 only).", no_args_is_help=True
)


@app.command("up")
def up(
    ctx: typer.Context,
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Port on 127.0.0.1.")
    ] = endpoint.DEFAULT_PORT,
    detach: Annotated[
        bool, typer.Option("--detach", help="Run in the background and record it in .picops/local.json.")
    ] = False,
    json_mode: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Start the local endpoint (foreground until Ctrl-C, or --detach)."""
    out = get_state(ctx).output(json_mode)
    endpoint.require_moto()
    if detach:
        state = endpoint.start_detached(port)
        out.target(f"target: local endpoint {state.url}")
        out.result(
            endpoint.describe(state),
            lambda: out.info(
                f"[green]local endpoint up[/green] at {state.url} (pid {state.pid}); "
                "stop it with `picops local down`"
            ),
        )
        return
    if not endpoint.port_is_free(port):
        raise UsageError(f"port {port} on {endpoint.HOST} is in use", hint="pick another with --port")
    out.target(f"target: local endpoint {endpoint.url_for(port)}")
    stop = threading.Event()

    def ready(url: str) -> None:
        # The one JSON document goes out as soon as the endpoint answers: a script reads it, then uses it.
        out.result(
            {"running": True, "url": url, "pid": os.getpid(), "port": port, "foreground": True},
            lambda: out.info(f"[green]local endpoint up[/green] at {url} (pid {os.getpid()})"),
        )
        out.status("serving until Ctrl-C; use --detach to run in the background")

    try:
        _serve(port, stop, ready)
    except KeyboardInterrupt:
        out.status("stopped")


def _serve(port: int, stop: threading.Event, on_ready: Callable[[str], None]) -> None:
    from picops.local.server import serve

    serve(port, stop, on_ready)


@app.command("down")
def down(
    ctx: typer.Context,
    json_mode: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Stop the endpoint recorded in .picops/local.json (only that process)."""
    out = get_state(ctx).output(json_mode)
    record, stopped = endpoint.stop_recorded()
    doc = {
        "stopped": stopped,
        "pid": record.pid if record else None,
        "url": record.url if record else None,
        # A record whose process was already gone (or is another program now) is cleared, nothing signalled.
        "stale": record is not None and not stopped,
        "cleared": record is not None,
    }

    def render() -> None:
        if record is None:
            out.info("no local endpoint recorded")
        elif stopped:
            out.info(f"stopped local endpoint {record.url} (pid {record.pid})")
        else:
            out.info(
                f"the recorded endpoint {record.url} (pid {record.pid}) was not running; cleared the record"
            )

    out.result(doc, render)


@app.command("status")
def status(
    ctx: typer.Context,
    json_mode: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Show whether the recorded endpoint runs and answers. Exit 1 when recorded but not healthy."""
    out = get_state(ctx).output(json_mode)
    state = endpoint.read_local_state()
    doc = endpoint.describe(state)

    def render() -> None:
        if state is None:
            out.info("no local endpoint recorded (start one with `picops local up --detach`)")
        else:
            out.key_values(
                {
                    "url": doc["url"],
                    "pid": doc["pid"],
                    "running": doc["running"],
                    "healthy": doc["healthy"],
                    "uptime_s": doc["uptime_s"],
                }
            )

    out.result(doc, render)
    if state is not None and not doc["healthy"]:
        raise typer.Exit(1)


def _start_api(runtime: Any, api_port: int | None, out: Any) -> None:
    """BookingsApi on its port. The default port being taken is a warning (the pumps still serve); a port
    asked for explicitly that cannot be served is an error."""
    from picops.local.http_api import DEFAULT_API_PORT

    if api_port == 0:
        return
    if api_port is None and not endpoint.port_is_free(DEFAULT_API_PORT):
        out.warn(f"port {DEFAULT_API_PORT} is in use: BookingsApi not served (choose one with --api-port)")
        return
    api = runtime.start_api(DEFAULT_API_PORT if api_port is None else api_port)
    out.status(f"BookingsApi on {api.url} (POST /bookings, GET /bookings/{{id}})")


@app.command("run")
def run(
    ctx: typer.Context,
    once: Annotated[
        bool,
        typer.Option("--once", help="Drain every mapping until a poll brings nothing new, then exit."),
    ] = False,
    duration: Annotated[
        float | None,
        typer.Option("--duration", min=0.0, help="Stop after this many seconds (default: until Ctrl-C)."),
    ] = None,
    sweep_every: Annotated[
        float | None,
        typer.Option(
            "--sweep-every",
            min=0.0,
            help="Fire SweepSchedule (ModerationSweepFunction) every S seconds; 0 turns it off. "
            "Default: 3600 when serving, off with --once (given with --once: one sweep after the drain).",
        ),
    ] = None,
    until_idle: Annotated[
        bool,
        typer.Option(
            "--until-idle",
            help="Drain until every mapping's source has stayed empty for 2 s with no message in flight, "
            "then exit (a bounded --once); exit 4 if messages stay in flight past their visibility timeout.",
        ),
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=0.0,
            help="With --until-idle: give up after S seconds, exit 1 and report what was still pending.",
        ),
    ] = None,
    api_port: Annotated[
        int | None,
        typer.Option(
            "--api-port",
            min=0,
            max=65535,
            help="Serve BookingsApi's routes on 127.0.0.1:PORT while serving (default 3000; 0 turns it off; "
            "not with --once).",
        ),
    ] = None,
    log_format: Annotated[
        str | None,
        typer.Option(
            "--log-format",
            metavar="FORMAT",
            help=LOG_FORMAT_HELP,
        ),
    ] = None,
    faults: Annotated[
        str | None,
        typer.Option(
            "--faults",
            metavar="SPEC",
            help="Inject faults at a rate, e.g. duplicate=0.1,crash=0.05,throttle=0.05 (also reorder, "
            "slow=P[:MS], error=SVC.Op:P[:CODE]; docs/local.md). Default: [local] faults.",
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Seed of the faults' draws: the same seed and inputs replay a run."),
    ] = None,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Reload the handlers between batches when a file under src/picops changes (the endpoint "
            "and queues keep their state); the summary lists the reloads.",
        ),
    ] = False,
    json_mode: Annotated[bool, typer.Option("--json", help="Print one JSON summary document.")] = False,
) -> None:
    """Run the local runtime: poll the recorded event source mappings and invoke the handlers in-process.

    While serving, BookingsApi answers on http://127.0.0.1:PORT (--api-port) as API Gateway would, and its URL
    is recorded so `picops bookings book` finds it.

    Only on a local endpoint (exit 2 otherwise); one runtime per endpoint and stack (a second exits 2
    naming the first's pid). Exit 1 when an invocation raised; 4 when --until-idle finds the queues not
    drained (messages stayed in flight). Ctrl-C or SIGTERM stops cleanly: the messages handlers had
    received and not finished are made visible again at once, stream positions are saved, the summary is
    printed, exit 130.
    """
    state = get_state(ctx)
    out = state.output(json_mode)
    mode = _RunMode(once, duration, sweep_every, until_idle, timeout, api_port)
    mode.check()
    runtime = _runtime_for(state, out, log_format, faults, seed, watch=watch)
    pending: list[dict[str, Any]] | None = None
    lock = runtime_lock.hold(runtime.endpoint_url, state.settings.stack.name)
    with lock, runtime.stop_on_signals() as stop:
        try:
            runtime.prepare()
            pending = _drive(runtime, mode, stop, out)
        except KeyboardInterrupt:
            stop.set()
        finally:
            runtime.settle()
            runtime.close()
    if stop.is_set():
        pending = None  # an interrupted run is not "still pending": it was stopped
        out.status("stopped")
    doc = _summary_doc(runtime, state.guard, pending)
    out.result(doc, lambda: _render_summary(out, doc, runtime.undrained))
    if stop.is_set():
        # Interrupted (state left resumable): what was in hand is visible again, stream positions saved.
        raise typer.Exit(130)
    if runtime.undrained:
        # Distinct from a handler error or --timeout: the queues hold messages nobody has handled.
        raise typer.Exit(UNDRAINED_EXIT)
    if runtime.failed or pending:
        raise typer.Exit(1)


@dataclass(frozen=True)
class _RunMode:
    """How `local run` ends: --once, --until-idle (with --timeout), --duration, or serving until Ctrl-C."""

    once: bool
    duration: float | None
    sweep_every: float | None
    until_idle: bool
    timeout: float | None
    api_port: int | None

    def check(self) -> None:
        if self.timeout is not None and not self.until_idle:
            raise UsageError("--timeout bounds --until-idle: give both")
        if self.until_idle and (self.once or self.duration is not None):
            raise UsageError("--until-idle is a bounded --once: give one of --until-idle, --once, --duration")


def _runtime_for(
    state: Any, out: Any, log_format: str | None, faults: str | None, seed: int | None, *, watch: bool
) -> Any:
    """The runtime on the local endpoint, with the handlers' log view, the faults and the watch asked for."""
    from rich.markup import escape

    from picops.local.faults import parse_faults
    from picops.local.runtime import LocalRuntime, require_local

    factory = state.factory
    require_local(factory)
    out.target(factory.describe_target())
    view = HandlerLogView(
        log_format_of(log_format, verbose=state.verbose), lambda line: out.err.print(escape(line))
    )
    local = state.settings.local
    spec = parse_faults(local.faults if faults is None else faults, seed=local.seed if seed is None else seed)
    if spec.active:
        out.status(f"faults: {spec.describe()}")
    watcher = None
    if watch:
        watcher = _source_watcher()
        out.status(f"watching {watcher.root} for changes")
    return LocalRuntime(
        factory,
        state.settings,
        progress=lambda line: out.status(escape(line)),
        log_view=view,
        faults=spec,
        watch=watcher,
    )


def _source_watcher() -> Any:
    from pathlib import Path

    import picops
    from picops.local.watch import BUNDLE_PACKAGES, SourceWatcher

    return SourceWatcher(Path(picops.__file__).parent, "picops", reloadable=BUNDLE_PACKAGES)


def _drive(runtime: Any, mode: _RunMode, stop: threading.Event, out: Any) -> list[dict[str, Any]] | None:
    """Run the prepared runtime as `mode` asks; what --until-idle found still pending (None otherwise)."""
    from picops.local.runtime import DEFAULT_SWEEP_EVERY_S

    pending: list[dict[str, Any]] | None = None
    if mode.until_idle or mode.once:
        if mode.until_idle:
            pending = runtime.run_until_idle(timeout_s=mode.timeout, stop=stop)
        else:
            runtime.drain()
        if mode.sweep_every and not stop.is_set():
            runtime.run_sweep()
        return pending
    every = DEFAULT_SWEEP_EVERY_S if mode.sweep_every is None else mode.sweep_every
    _start_api(runtime, mode.api_port, out)
    out.status(
        "serving until Ctrl-C"
        + (f" or {mode.duration:g} s" if mode.duration is not None else "")
        + (f"; SweepSchedule every {every:g} s" if every else "; SweepSchedule off")
    )
    runtime.serve(stop=stop, duration_s=mode.duration, sweep_every_s=every or None)
    return None


def _summary_doc(runtime: Any, guard: Any, pending: list[dict[str, Any]] | None) -> dict[str, Any]:
    from picops.strict.guard import summary_of

    doc: dict[str, Any] = runtime.summary()
    # Strict local mode's count: an AccessDenied here is one a real account would answer too.
    doc["access_denied"] = guard.tally.denied if guard is not None else 0
    doc["iam"] = summary_of(guard)
    if pending is not None:
        doc["idle"] = not pending
        doc["drained"] = not runtime.undrained
        doc["pending"] = pending
    return doc


def _render_summary(out: Any, doc: dict[str, Any], undrained: bool) -> None:
    from rich.markup import escape

    colour = {"ok": "green", "skipped": "yellow", "error": "red"}
    for m in doc["mappings"]:
        out.info(
            f"[{colour.get(m['status'], 'white')}]{m['status']:<7}[/] {m['logical']}: "
            f"{escape(m['source'])} -> {escape(m['handler'])}: {m['invocations']} invocation(s), "
            f"{m['records']} record(s), {m['failed_records']} failed"
            + (f" ({escape(m['detail'])})" if m["detail"] else "")
        )
    if doc["access_denied"]:
        out.info(f"[red]AccessDenied[/]: {doc['access_denied']} call(s) refused by strict local mode")
        for denial in doc["iam"]["denials"][:5]:
            out.info(f"  {escape(denial)}")
    out.info(f"sweeps: {doc['sweeps']}" + (f" ({doc['sweep_errors']} failed)" if doc["sweep_errors"] else ""))
    for f in doc["functions"]:
        out.info(
            f"{f['logical']}: {f['invocations']} invocation(s), {f['errors']} raised, "
            f"{f['mean_ms']:.1f} ms mean, {f['max_ms']:.1f} ms max"
        )
    _render_concurrency(out, doc)
    for name, m in doc["memory"].items():
        out.info(
            f"memory: {name} peaked at {m['peak_mb']:g} MB, {m['above_baseline_mb']:g} MB above the process "
            f"before it ran (MemorySize {m['memory_size_mb']} MB)" + (" [red]over[/]" if m["over"] else "")
        )
    for r in doc["reloads"]:
        what = ", ".join(r["functions"]) or "no function"
        if r["error"]:
            what = f"[red]failed[/] ({escape(r['error'])})"
        out.info(f"reload: {what} after {escape(', '.join(r['files']))} changed")
    for p in doc.get("pending") or []:
        out.info(f"[red]pending[/] {p['logical']}: {escape(_pending_text(p))}")
    if undrained:
        out.info("[red]not drained[/]: messages stayed in flight past their visibility timeout")
    if doc["interrupted"]:
        out.info(
            f"[yellow]interrupted[/]: {doc['released']} message(s) in hand given back to their queues; "
            "stream positions saved"
        )


def _render_concurrency(out: Any, doc: dict[str, Any]) -> None:
    c = doc["concurrency"]
    out.info(
        f"concurrency: {c['max']} invocation(s) at most at once, {c['throttles']} throttled, "
        f"{c['timeouts']} timed out, {c['crashes']} crashed, {c['duplicates']} duplicated, "
        f"{c['retries']} record(s) retried"
        + (f", {c['parallel_batches']} stream batch(es) in parallel" if c["parallel_batches"] else "")
    )
    if doc["metrics"]:
        out.info("metrics: " + ", ".join(f"{name} {value:g}" for name, value in doc["metrics"].items()))


UNDRAINED_EXIT = 4


def _pending_text(entry: dict[str, Any]) -> str:
    parts = [f"{entry['source']}: {entry['last_poll_records']} record(s) in the last poll"]
    if "visible" in entry:
        parts.append(f"{entry['visible']} visible, {entry['in_flight']} in flight")
    return "; ".join(parts)
