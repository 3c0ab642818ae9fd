"""`picops tag-backfill`: tag every object with its moderation verdict, from a listing or an S3 Inventory.

Direct engine (default): this process lists (or reads the inventory), looks verdicts up in batches and tags
with a bounded worker pool, checkpointing to a state file so `--resume` finishes an interrupted job. The tag
ledger in JobsTable lets it skip objects already carrying their verdict (same ETag and LastModified as when
picops last saw the tag) with no S3 request; `--verify` reads every object on S3 regardless.
`--engine batch-operations`: hands an inventory to S3 Batch Operations, which invokes the tagger Lambda per
object; `--job-status ID` reports on such a job.
"""

from __future__ import annotations

import csv
import enum
import json
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.markup import escape

from picops.cli import costs
from picops.cli.confirm import confirm
from picops.cli.output import Output
from picops.cli.state import get_state
from picops.core.tagging import (
    BackfillJob,
    BackfillRun,
    Counts,
    ObjectResult,
    RunSummary,
    batch_ops,
    bucket_object_count,
    default_state_path,
    load_state,
    run_backfill,
)
from picops.errors import UsageError
from picops.stack.names import StackNames

REPORT_COLUMNS = ("key", "version", "outcome", "old", "new", "error")


class Engine(enum.StrEnum):
    direct = "direct"
    batch_operations = "batch-operations"


def tag_backfill(
    ctx: typer.Context,
    bucket: Annotated[
        str | None, typer.Option("--bucket", help="Bucket to list (default: the stack's UploadsBucket).")
    ] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Key prefix to list (default: the ingest.prefix setting).")
    ] = None,
    inventory_url: Annotated[
        str | None,
        typer.Option(
            "--inventory",
            metavar="S3_URL",
            help="Read objects from an S3 Inventory report: s3://bucket/.../manifest.json (CSV or Parquet).",
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=512, help="Parallel S3 requests (and pool size).")
    ] = 32,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would change; write no tags and no checkpoint.")
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite/--no-overwrite", help="Replace an existing, different verdict tag (default: yes)."
        ),
    ] = True,
    limit: Annotated[
        int | None, typer.Option("--limit", min=0, help="Stop after scanning N objects (resumable).")
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report", metavar="FILE.csv", help="Write key,version,outcome,old,new,error per object."
        ),
    ] = None,
    state_file: Annotated[
        Path | None,
        typer.Option(
            "--state", metavar="FILE", help="Checkpoint file (default: .picops/tag-backfill-<job>.json)."
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the job recorded in the state file.")
    ] = False,
    list_ranges: Annotated[
        int, typer.Option("--list-ranges", min=1, max=62, help="List this many key ranges in parallel.")
    ] = 1,
    table: Annotated[
        str | None, typer.Option("--table", help="Verdict table (default: the stack's ModerationTable).")
    ] = None,
    engine: Annotated[
        Engine,
        typer.Option(
            "--engine",
            case_sensitive=False,
            help="direct: tag from this process. batch-operations: create an S3 Batch Operations job "
            "(needs --inventory).",
        ),
    ] = Engine.direct,
    job_status: Annotated[
        str | None,
        typer.Option("--job-status", metavar="ID", help="Show an S3 Batch Operations job's status."),
    ] = None,
    function_arn: Annotated[
        str | None,
        typer.Option(
            "--function-arn",
            help="Lambda for batch-operations (default: the ModerationSweepFunction:live alias).",
        ),
    ] = None,
    role_arn: Annotated[
        str | None,
        typer.Option(
            "--role-arn",
            help="Role S3 Batch Operations assumes (default: moderation.batch_role_arn setting, else the "
            "stack's <stack>-moderation-batch role).",
        ),
    ] = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Ignore the tag ledger: read every object's tags on S3 (repairs tags changed by hand); "
            "the ledger is still updated.",
        ),
    ] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="Create the billable S3 Batch Operations job without asking (batch engine)."
        ),
    ] = False,
    json_mode: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Tag every object in UploadsBucket (or an S3 Inventory) with its moderation verdict.

    Objects without a verdict are 'pending' and cost no S3 request. Exit 1 if any object failed, 130 on
    Ctrl-C (progress saved; continue with --resume).
    """
    app_state = get_state(ctx)
    out = app_state.output(json_mode)
    settings = app_state.settings
    factory = app_state.factory
    out.target(factory.describe_target())
    if job_status is not None:
        _job_status(factory, out, job_status)
        return
    if inventory_url is not None and (bucket is not None or prefix is not None):
        raise UsageError("--inventory reads objects from the report: drop --bucket/--prefix")
    if engine is Engine.batch_operations and inventory_url is None:
        raise UsageError("--engine batch-operations needs --inventory s3://.../manifest.json")
    names = StackNames(settings, factory.account_id(), factory.region)
    moderation = settings.moderation
    job = BackfillJob(
        table=table or names.moderation_table,
        key_attribute=moderation.key_attribute,
        status_attribute=moderation.status_attribute,
        tag_key=moderation.tag_key,
        statuses=moderation.statuses,
        overwrite=overwrite,
        bucket=None if inventory_url else (bucket or names.uploads_bucket),
        prefix="" if inventory_url else (settings.ingest.prefix if prefix is None else prefix),
        inventory=inventory_url,
        list_ranges=list_ranges,
        ledger_table=names.jobs_table,
    )
    if engine is Engine.batch_operations:
        _batch_job(factory, out, names, job, (function_arn, role_arn), dry_run, yes)
        return
    state_path = state_file or default_state_path(job.identity())
    if not resume and not dry_run:
        _warn_unfinished(out, state_path)
    estimate = _direct_estimate(factory, job, limit)
    out.status(estimate.line())
    with ExitStack() as stack:
        on_result = None
        if report is not None:
            on_result = _report_writer(stack, report, append=resume and report.exists())
        progress = _progress(stack, out, dry_run=dry_run, total=estimate.count)
        summary = run_backfill(
            factory,
            job,
            BackfillRun(
                concurrency=concurrency,
                dry_run=dry_run,
                limit=limit,
                state_path=state_path,
                resume=resume,
                on_result=on_result,
                on_progress=progress,
                verify=verify,
                on_warning=out.warn,
            ),
        )
    _render(out, summary, dry_run, state_path, estimate)
    if summary.counts.failed:
        raise typer.Exit(1)


def _warn_unfinished(out: Output, state_path: Path) -> None:
    try:
        previous = load_state(state_path)
    except UsageError as exc:
        # Starting over does not need the old checkpoint: replace it rather than refuse to run.
        out.warn(f"{exc.message}; starting over")
        return
    if previous is not None and not previous.complete:
        out.warn(
            f"{state_path} holds an unfinished run of this job; starting over "
            "(pass --resume to continue it instead)"
        )


def _report_writer(stack: ExitStack, path: Path, *, append: bool) -> Any:
    try:
        fh: IO[str] = stack.enter_context(path.open("a" if append else "w", newline="", encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot write report {path}: {exc.strerror}") from None
    writer = csv.writer(fh)
    if not append:
        writer.writerow(REPORT_COLUMNS)
    lock = threading.Lock()

    def write(result: ObjectResult) -> None:
        row = (result.key, result.version_id or "", result.outcome.value, result.old or "", result.new or "")
        with lock:
            writer.writerow((*row, result.error or ""))

    return write


def _progress(stack: ExitStack, out: Output, *, dry_run: bool, total: int | None) -> Any:
    # The CLI's one progress display (stderr; hidden when stderr is not a terminal). Its total is the
    # estimate's count (an upper bound under a prefix, so it grows if the scan passes it).
    progress = stack.enter_context(out.progress("starting", total=total))
    task = progress.task_ids[0]

    def update(counts: Counts, elapsed: float) -> None:
        grown = total if total is None or counts.scanned <= total else counts.scanned
        progress.update(
            task, completed=counts.scanned, total=grown, description=progress_line(counts, elapsed, dry_run)
        )

    return update


def progress_line(counts: Counts, elapsed: float, dry_run: bool) -> str:
    rate = counts.scanned / elapsed if elapsed > 0 else 0.0
    verb = "would tag" if dry_run else "tagged"
    return (
        f"scanned {counts.scanned}  {verb} {counts.tagged}  unchanged {counts.unchanged}  "
        f"pending {counts.pending}  missing {counts.missing}  failed {counts.failed}  "
        f"{rate:,.0f} objects/s"
    )


def _direct_estimate(factory: Any, job: BackfillJob, limit: int | None) -> costs.Estimate:
    """From the count about to be processed: the bucket's daily NumberOfObjects metric (free, on real AWS;
    an upper bound under a prefix), capped by --limit. An inventory is not read twice just to count it."""
    source = job.inventory or f"s3://{job.bucket}/{job.prefix}"
    count = None if job.inventory else bucket_object_count(factory, str(job.bucket))
    if limit is not None:
        count = limit if count is None else min(count, limit)
    return costs.direct_backfill(count, source=source, listing=job.inventory is None)


def _render(
    out: Output, summary: RunSummary, dry_run: bool, state_path: Path, estimate: costs.Estimate
) -> None:
    doc = summary.as_json()
    doc["cost_estimate"] = estimate.as_dict()

    def human() -> None:
        counts = summary.counts
        rate = counts.scanned / summary.elapsed_s if summary.elapsed_s > 0 else 0.0
        verb = "would tag" if dry_run else "tagged"
        out.key_values(
            {
                "source": summary.source,
                "scanned": counts.scanned,
                verb: counts.tagged,
                "unchanged": counts.unchanged,
                "pending": counts.pending,
                "missing": counts.missing,
                "failed": counts.failed,
                "skipped by ledger": _ledger_line(summary),
                "requests": ", ".join(f"{k} {v}" for k, v in doc["requests"].items()),
                "elapsed": f"{summary.elapsed_s:.1f} s ({rate:,.0f} objects/s)",
            }
        )
        if not summary.complete and not dry_run:
            out.info(f"not finished; continue with `picops tag-backfill --resume --state {state_path}`")

    out.result(doc, human)


def _ledger_line(summary: RunSummary) -> str:
    ledger = summary.ledger
    if ledger is None:
        return str(summary.counts.skipped_by_ledger)
    if ledger.get("verify"):
        return "0 (--verify: every object read on S3)"
    text = f"{summary.counts.skipped_by_ledger} (entries written {ledger.get('written', 0)}"
    if ledger.get("write_failures"):
        text += f", write failures {ledger['write_failures']}"
    return text + ")"


def _create_batch_job(
    factory: Any, out: Output, names: StackNames, job: BackfillJob, options: tuple[str | None, str | None]
) -> tuple[batch_ops.PreparedJob, costs.Estimate]:
    """The checked CreateJob request and its cost, shown before anything is created."""
    assert job.inventory is not None
    function_arn, role_arn = options
    prepared = batch_ops.prepare_job(
        factory, names, job.inventory, overwrite=job.overwrite, function_arn=function_arn, role_arn=role_arn
    )
    # S3 Batch Operations bills per job and per object: count what the job would process, and ask.
    estimate = costs.batch_operations(prepared.objects)
    out.status(estimate.line())
    return prepared, estimate


def _batch_job(
    factory: Any,
    out: Output,
    names: StackNames,
    job: BackfillJob,
    options: tuple[str | None, str | None],
    dry_run: bool,
    yes: bool,
) -> None:
    prepared, estimate = _create_batch_job(factory, out, names, job, options)
    if dry_run:
        _show_dry_run(out, job, prepared, estimate)
        return
    confirm(
        out,
        f"create a billable S3 Batch Operations job over {prepared.objects:,} objects "
        f"(about ${estimate.usd or 0:,.2f})",
        yes=yes,
    )
    job_id = batch_ops.create_job(factory.client("s3control"), prepared.request)
    doc = {
        "objects": prepared.objects,
        "cost_estimate": estimate.as_dict(),
        "job_id": job_id,
        "source": job.inventory,
        "function_arn": prepared.function_arn,
        "role_arn": prepared.role_arn,
        "report": f"s3://{names.processed_bucket}/{batch_ops.REPORT_PREFIX}",
    }
    out.result(
        doc,
        lambda: out.info(
            f"created S3 Batch Operations job {job_id}; "
            f"follow it with `picops tag-backfill --job-status {job_id}`"
        ),
    )


def _show_dry_run(
    out: Output, job: BackfillJob, prepared: batch_ops.PreparedJob, estimate: costs.Estimate
) -> None:
    params = prepared.request.params()

    def render() -> None:
        out.info(
            f"would create an S3 Batch Operations job invoking {prepared.function_arn} over {job.inventory} "
            f"({prepared.objects:,} objects); the CreateJob request:"
        )
        out.info(escape(json.dumps(params, indent=2, default=str)))

    out.result(
        {
            "dry_run": True,
            "create_job": params,
            "objects": prepared.objects,
            "cost_estimate": estimate.as_dict(),
        },
        render,
    )


def _job_status(factory: Any, out: Output, job_id: str) -> None:
    doc = batch_ops.describe_job(factory.client("s3control"), factory.account_id(), job_id)
    out.result(doc, lambda: out.key_values({k: v for k, v in doc.items() if v not in (None, [])}))
    if doc["status"] == "Failed" or (doc["status"] == "Complete" and doc["failed"]):
        raise typer.Exit(1)
