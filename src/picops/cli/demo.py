"""`picops demo`: the whole product on the embedded endpoint, step by step, checking each outcome.

Each capability adds a step module under `picops.cli.demo_steps`; a step returns a `StepResult` and the
demo exits 1 when any step's expected outcome does not hold.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from picops.aws import ClientFactory, is_loopback_url
from picops.cli.demo_steps import STEPS, DemoContext, StepResult
from picops.cli.state import get_state
from picops.config import load_settings
from picops.errors import UsageError
from picops.local import endpoint

if TYPE_CHECKING:
    from picops.strict.guard import Guard


def demo(
    ctx: typer.Context,
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the endpoint running (recorded in .picops/local.json).")
    ] = False,
    faults: Annotated[
        str | None,
        typer.Option(
            "--faults",
            metavar="SPEC",
            help="Run the ingest step's local runtime under these faults, e.g. "
            "duplicate=0.1,crash=0.05,throttle=0.05 (docs/local.md); its checks then show the invariants "
            "hold: one job and one notification per object version.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the faults' draws (with --faults).")] = 7,
    json_mode: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Run the end-to-end demo on the embedded local endpoint (started if none is configured)."""
    from picops.local.faults import parse_faults

    state = get_state(ctx)
    out = state.output(json_mode)
    settings = state.settings
    spec = parse_faults(faults, seed=seed) if faults else None
    started: endpoint.LocalState | None = None
    url = settings.aws.endpoint_url
    if url is None:
        endpoint.require_moto()
        port = endpoint.DEFAULT_PORT if endpoint.port_is_free(endpoint.DEFAULT_PORT) else endpoint.free_port()
        started = endpoint.start_detached(port, record=keep)
        url = started.url
        settings = load_settings(
            state.config_path,
            {**state.overrides, "aws": {**state.overrides.get("aws", {}), "endpoint_url": url}},
        )
    elif not is_loopback_url(url):
        raise UsageError(
            f"the demo runs only on a local endpoint, not {url}",
            hint="drop --endpoint-url to let the demo start its own",
        )
    factory = ClientFactory.from_settings(settings)
    guard: Guard | None = None
    if settings.local.enforce_iam or settings.local.enforce_limits:
        from picops.strict.guard import guard_for

        # The demo acts as the operator (and its handlers with their roles), as any other command does.
        guard = guard_for(settings, factory)
        factory.installers = (guard.install,)
    out.target(factory.describe_target())
    results: list[StepResult] = []
    try:
        observer = ClientFactory.from_settings(settings)  # unguarded: see DemoContext.observer
        context = DemoContext(settings=settings, factory=factory, out=out, observer=observer)
        if spec is not None and spec.active:
            context.faults = spec
            out.status(f"faults in the ingest step: {spec.describe()}")
        for step in STEPS:
            began = time.monotonic()
            out.status(f"[bold]▶ {step.title}[/bold]")
            result = step.run(context)
            result.elapsed_s = round(time.monotonic() - began, 2)
            results.append(result)
            mark = "[green]✓[/green]" if result.ok else "[red]✗[/red]"
            out.info(f"{mark} {result.name}: {result.detail}")
            if not result.ok:
                break
    finally:
        if started is not None and not keep:
            endpoint.stop_pid(started.pid)
            out.status(f"stopped local endpoint {started.url}")
        elif started is not None:
            out.status(f"local endpoint left running at {started.url}; stop it with `picops local down`")
    from picops.strict.guard import summary_of

    ok = len(results) == len(STEPS) and all(r.ok for r in results)
    if guard is not None and guard.iam:
        tally = guard.tally
        out.status(f"strict local mode: {tally.checked} call(s) authorised as on AWS, {tally.denied} refused")
    out.result(
        {
            "ok": ok,
            "endpoint": url,
            "kept": keep and started is not None,
            "steps": [r.as_dict() for r in results],
            "iam": summary_of(guard),
        },
        lambda: out.info("[green]demo complete[/green]" if ok else "[red]demo failed[/red]"),
    )
    if not ok:
        raise typer.Exit(1)
