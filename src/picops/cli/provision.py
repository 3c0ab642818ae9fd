"""`picops provision`, `picops destroy`, `picops status`: the stack model planned, applied, inspected,
removed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from picops.cli.confirm import confirm
from picops.cli.output import Output
from picops.cli.state import get_state
from picops.config import Settings
from picops.errors import OperationFailed, UsageError
from picops.provision import Hooks, run
from picops.provision.plan import Change, Plan, context_for, make_plan
from picops.provision.preflight import preflight_model
from picops.provision.status import healthy, short_repr, status_document

_ACTION_STYLE = {"create": "green", "update": "yellow", "replace": "red", "noop": "dim"}


def _render_plan(out: Output, plan: Plan) -> None:
    # Only what would change: a converged stack of ~60 resources should read as one line.
    rows = []
    for change in plan.pending:
        style = _ACTION_STYLE[change.action]
        fields = "; ".join(
            f"{k}: {short_repr(v['live'])} -> {short_repr(v['desired'])}" for k, v in change.diff.items()
        )
        where = " (local)" if change.local else ""
        rows.append(
            (f"{change.logical}{where}", change.resource.type, f"[{style}]{change.action}[/{style}]", fields)
        )
    if rows:
        out.table("plan", ["logical", "type", "action", "differs (live -> desired)"], rows)
    summary = plan.summary()
    counts = ", ".join(f"{summary[a]} {a}" for a in ("create", "update", "replace", "noop"))
    out.info(counts if rows else f"no changes: all {summary['noop']} resources match ({counts})")


def _bundle_builder(settings: Settings, out: Output) -> Any:
    def build() -> Any:
        from picops.provision.bundle import build_bundle

        out.status("building the Lambda bundle")
        bundle = build_bundle(settings)
        out.status(f"bundle {bundle.path.name}: {bundle.size_bytes} bytes zipped")
        return bundle

    return build


def provision(
    ctx: typer.Context,
    plan_only: Annotated[
        bool,
        typer.Option("--plan", help="Show what would change (describe/list calls only); change nothing."),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Same as --plan.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before replacing resources.")] = False,
    export: Annotated[
        str | None,
        typer.Option("--export", metavar="FORMAT", help="Render the model instead: `cloudformation`."),
    ] = None,
    output_file: Annotated[
        Path | None, typer.Option("-o", "--output", help="With --export: write the template here.")
    ] = None,
    print_policy: Annotated[
        bool,
        typer.Option(
            "--print-policy",
            help="Print the IAM policy picops itself needs for this stack (JSON) and change nothing.",
        ),
    ] = False,
    account: Annotated[
        str | None,
        typer.Option(
            "--account",
            metavar="ID",
            help="With --print-policy: the 12-digit account to name in ARNs (default aws.account_id, "
            "else the `${aws:PrincipalAccount}` policy variable; no credentials needed).",
        ),
    ] = None,
    json_mode: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Create or update the whole stack (buckets, queues, tables, topics, functions, roles, the API and
    their wiring) so live AWS matches your settings: plan against live state, check the wiring, then apply
    in dependency order. Idempotent: re-running changes nothing. See docs/provision.md."""
    state = get_state(ctx)
    out = state.output(json_mode or print_policy)
    settings = state.settings
    if export is not None:
        _export(settings, state.factory, export, output_file, out)
        return
    if output_file is not None:
        raise UsageError("-o/--output is only used with --export")
    factory = state.factory
    if print_policy:
        _print_policy(settings, factory, account, out)
        return
    if account is not None:
        raise UsageError("--account is only used with --print-policy")
    out.target(factory.describe_target())

    def warn(warning: str) -> None:
        out.err.print(f"[bold red]WARNING: {escape(warning)}[/bold red]")

    def confirm_replace(logicals: list[str]) -> None:
        confirm(out, f"replace (delete and re-create) {', '.join(logicals)}", yes=yes)

    def progress(change: Change, phase: str) -> None:
        if phase == "start":
            out.status(f"{change.action:>7} {change.logical} ({change.resource.type})")

    hooks = Hooks(warn, confirm_replace, progress, _bundle_builder(settings, out))
    outcome = run(settings, factory, plan_only=plan_only or dry_run, hooks=hooks)
    if outcome.planned_only:
        out.result(outcome.as_dict(), lambda: _render_plan(out, outcome.plan))
        return
    out.result(
        outcome.as_dict(),
        lambda: out.info(
            f"[green]stack {outcome.stack} is up to date[/green]: "
            + ", ".join(f"{n} {a}" for a, n in outcome.plan.summary().items())
        ),
    )


# An IAM policy variable that IAM replaces with the caller's own account: the printed policy can be handed to
# an admin before any credentials exist, and stays valid as written for the account it is attached in.
ACCOUNT_PLACEHOLDER = "${aws:PrincipalAccount}"


def _print_policy(settings: Settings, factory: Any, account: str | None, out: Output) -> None:
    """The operator policy without an STS call (it is what an admin needs *before* access exists)."""
    from picops.stack.build import build_model
    from picops.stack.operator_policy import operator_policy

    if account is not None and not (len(account) == 12 and account.isdigit()):
        raise UsageError(f"--account {account!r} is not a 12-digit AWS account ID")
    account = account or settings.aws.account_id
    if account is None and factory.is_local:
        account = factory.account_id()  # the local endpoint answers STS without real credentials
    if account is None:
        account = ACCOUNT_PLACEHOLDER
        out.status(
            f"no account given: ARNs name {ACCOUNT_PLACEHOLDER}, which IAM replaces with the account the "
            "policy is attached in (pass --account ID or set aws.account_id to name it)"
        )
    if factory.endpoint_url:
        out.target(factory.describe_target())
    else:
        out.target(f"target: AWS account {account} / {factory.region} (policy only: no AWS call made)")
    model = build_model(settings, account, factory.region, local=factory.is_local)
    # The policy is the output whether or not --json is given: one JSON document on stdout.
    out.emit_json(operator_policy(model, inventory_bucket=settings.moderation.inventory_bucket))


def _export(settings: Settings, factory: Any, fmt: str, output_file: Path | None, out: Output) -> None:
    from picops.provision.cloudformation import render_template, template_model

    if fmt != "cloudformation":
        raise UsageError(f"--export {fmt!r} is not supported", hint="use --export cloudformation")
    model = template_model(settings)
    preflight_model(model)
    text = render_template(model, settings)
    if output_file is not None:
        output_file.write_text(text)
        out.status(f"wrote CloudFormation template to {output_file}")
        if out.json_mode:
            out.emit_json({"format": "cloudformation", "file": str(output_file)})
    else:
        sys.stdout.write(text)


def destroy(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    delete_data: Annotated[
        bool, typer.Option("--delete-data", help="Also delete non-empty buckets (every version) and tables.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be deleted; delete nothing.")
    ] = False,
    json_mode: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Delete every resource of the stack in reverse dependency order. Refuses resources holding data unless
    --delete-data; never touches an external ModerationTable."""
    from picops.provision.destroy import Removal, check_data, plan_destroy
    from picops.provision.destroy import destroy as run_destroy

    state = get_state(ctx)
    out = state.output(json_mode)
    factory = state.factory
    out.target(factory.describe_target())
    ctx_live = context_for(state.settings, factory)
    steps = plan_destroy(ctx_live)
    if not dry_run:
        # The data rule is settled before the question: never ask, then refuse.
        check_data(steps, ctx_live.model, delete_data=delete_data)
        confirm(
            out,
            f"delete every resource of stack {ctx_live.model.stack}"
            + (", with every object, version and item they hold" if delete_data else ""),
            yes=yes,
        )

    def progress(removal: Removal) -> None:
        if removal.action == "delete" and removal.detail and removal.type == "AWS::SQS::Queue":
            out.warn(f"{removal.logical} ({removal.name}) {removal.detail}: they are deleted with it")
        if removal.action == "delete":
            detail = f": {removal.detail}" if dry_run and removal.detail else ""
            out.status(
                f"{'would delete' if dry_run else 'deleted'} {removal.logical} ({removal.name}){detail}"
            )

    emptied: dict[str, int] = {}

    def on_empty(bucket: str, deleted: int) -> None:
        emptied[bucket] = deleted
        out.status(f"emptying {bucket}: {deleted} object version(s) and delete marker(s) deleted so far")

    removals = run_destroy(
        ctx_live,
        delete_data=delete_data,
        dry_run=dry_run,
        on_progress=progress,
        on_empty=on_empty,
        steps=steps,
    )
    deleted = [r for r in removals if r.action == "delete"]
    document = {
        "stack": ctx_live.model.stack,
        "dry_run": dry_run,
        "resources": [r.as_dict() for r in removals],
        "summary": {a: sum(1 for r in removals if r.action == a) for a in ("delete", "absent", "skip")},
        "emptied": emptied,
    }
    out.result(
        document,
        lambda: out.info(
            f"{'would delete' if dry_run else 'deleted'} {len(deleted)} resources of stack "
            f"{ctx_live.model.stack}"
        ),
    )


def status(
    ctx: typer.Context,
    json_mode: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Show every resource of the stack as ok, missing or drifted (exit 1 if any is not ok)."""
    state = get_state(ctx)
    out = state.output(json_mode)
    factory = state.factory
    out.target(factory.describe_target())
    ctx_live = context_for(state.settings, factory)
    document = status_document(make_plan(ctx_live))

    def render() -> None:
        _render_status(out, document)

    out.result(document, render)
    if not healthy(document):
        bad = [r for r in document["resources"] if r["status"] != "ok"]
        hint = None
        if len(bad) == len(document["resources"]):
            hint = f"stack {document['stack']} is not provisioned here? run `picops provision`"
        raise OperationFailed(
            f"{len(bad)} of {len(document['resources'])} resources are missing or drifted", hint=hint
        )


_STATUS_STYLE = {"ok": "green", "missing": "red", "drifted": "yellow"}


def _render_status(out: Output, document: dict[str, Any]) -> None:
    """Aligned plain lines, never a table: a table cuts names to the terminal's width (80 columns), and a
    name is what the operator copies into the next command."""
    resources = document["resources"]
    ok = sum(1 for r in resources if r["status"] == "ok")
    keys = ("logical", "type", "name")
    widths = [max((len(str(r[k])) for r in resources), default=0) for k in keys]
    for r in resources:
        cells = "  ".join(str(r[k]).ljust(w) for k, w in zip(keys, widths, strict=True))
        style = _STATUS_STYLE[r["status"]]
        detail = f"  {escape(str(r['detail']))}" if r["detail"] else ""
        out.human.print(f"[{style}]{r['status']:<7}[/] {escape(cells).rstrip()}{detail}", highlight=False)
    colour = "green" if ok == len(resources) else "red"
    out.info(f"stack {escape(document['stack'])}: [{colour}]{ok}/{len(resources)} ok[/]")
    if document["dashboard_url"]:
        out.info(f"dashboard: {document['dashboard_url']}")


__all__ = ["destroy", "provision", "status"]
