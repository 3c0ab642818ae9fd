"""`picops deploy`: build the Lambda bundle once, ship it to the stack's functions, move alias `live`.

`--rollback FUNCTION` moves `live` back one published version instead.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from picops.cli.output import Output
from picops.cli.state import get_state
from picops.errors import UsageError
from picops.provision.bundle import MIB, Bundle, build_bundle
from picops.provision.deploy import (
    FunctionResult,
    deploy_functions,
    rollback_function,
    s3_route,
    select_functions,
)
from picops.provision.preflight import preflight_model
from picops.stack.build import build_model


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
    json_mode: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Build the Lambda bundle and deploy it: new code or configuration only where it differs, a published
    version, and alias `live` moved onto it (event sources and the API invoke `live`)."""
    state = get_state(ctx)
    out = state.output(json_mode)
    settings = state.settings
    factory = state.factory
    if rollback is not None and functions:
        raise UsageError("--rollback takes one FUNCTION and no other function arguments")
    out.target(factory.describe_target())
    model = build_model(settings, factory.account_id(), factory.region, local=factory.is_local)

    if rollback is not None:
        (spec,) = select_functions(model, [rollback])
        result = rollback_function(factory, spec, dry_run=dry_run)
        rollback_doc = {"functions": [result.as_dict()], "dry_run": dry_run}
        verb = "would move" if dry_run else "moved"
        out.result(
            rollback_doc,
            lambda: out.info(
                f"{result.logical} ({result.name}): alias live {verb} from version "
                f"{result.previous_version} to {result.version}"
            ),
        )
        return

    specs = select_functions(model, functions or [])
    # The same wiring checks as provision (a sweeper timeout its margin eats, visibility under 6x a
    # consumer's timeout): deploy changes timeouts too.
    preflight_model(model)
    out.status(f"building the Lambda bundle ({settings.deploy.runtime}, {settings.deploy.architecture})...")
    # Only the functions being deployed need their handler; on a local endpoint the runtime reports them.
    entry_points = {} if factory.is_local else {spec.logical: spec.handler for spec in specs}
    bundle = build_bundle(settings, refresh=refresh_deps, entry_points=entry_points)
    for warning in bundle.warnings:
        out.warn(warning)
    route = s3_route(settings, bundle)

    def progress(result: FunctionResult) -> None:
        version = f" -> version {result.version}" if result.version else ""
        out.status(f"  {result.logical}: {result.action}{version}")

    results = deploy_functions(factory, settings, specs, bundle, dry_run=dry_run, on_result=progress)
    doc: dict[str, Any] = {
        "functions": [r.as_dict() for r in results],
        "dry_run": dry_run,
        "bundle": _bundle_doc(bundle, route),
    }
    out.result(doc, lambda: _render(out, bundle, route, results, dry_run))
    failed = [r for r in results if r.action == "failed"]
    if failed:
        for r in failed:
            out.error(f"{r.logical} ({r.name}): {r.error}")
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
        out.human.print(f"  {r.logical} ({r.name}): {r.action}, {version}{changes}", markup=False)
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
