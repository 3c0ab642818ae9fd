"""`picops tag-backfill`: tag every object with its moderation verdict, from a listing or an S3 Inventory.

Direct engine (default): this process lists (or reads the inventory), looks verdicts up in batches and tags
with a bounded worker pool, checkpointing to a state file so `--resume` finishes an interrupted job.
`--engine batch-operations`: hands an inventory to S3 Batch Operations, which invokes the tagger Lambda per
object; `--job-status ID` reports on such a job.
"""

from __future__ import annotations

import csv
import enum
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from picops.cli.output import Output
from picops.cli.state import get_state
from picops.core.tagging import (
    BackfillJob,
    BackfillRun,
    Counts,
    ObjectResult,
    RunSummary,
    batch_ops,
    default_state_path,
    load_state,
    run_backfill,
)
from picops.core.tagging.sources import load_manifest, parse_s3_url
from picops.errors import UsageError
from picops.stack.names import StackNames

REPORT_COLUMNS = ("key", "version", "outcome", "old", "new", "error")
# The alias provision and deploy keep on the current version (every event source targets it too).
BATCH_ALIAS = "live"


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
    )
    if engine is Engine.batch_operations:
        _create_batch_job(factory, out, names, job, function_arn, role_arn, dry_run)
        return
    state_path = state_file or default_state_path(job.identity())
    if not resume and not dry_run:
        _warn_unfinished(out, state_path)
    with ExitStack() as stack:
        on_result = None
        if report is not None:
            on_result = _report_writer(stack, report, append=resume and report.exists())
        progress = _progress(stack, out)
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
            ),
        )
    _render(out, summary, dry_run, state_path)
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


def _progress(stack: ExitStack, out: Output) -> Any:
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=out.err,
        transient=True,
        disable=not out.err.is_terminal,
    )
    stack.enter_context(progress)
    task = progress.add_task("starting", total=None)

    def update(counts: Counts, elapsed: float) -> None:
        rate = counts.scanned / elapsed if elapsed > 0 else 0.0
        progress.update(
            task,
            description=(
                f"scanned {counts.scanned}  tagged {counts.tagged}  unchanged {counts.unchanged}  "
                f"pending {counts.pending}  missing {counts.missing}  failed {counts.failed}  "
                f"{rate:,.0f} objects/s"
            ),
        )

    return update


def _render(out: Output, summary: RunSummary, dry_run: bool, state_path: Path) -> None:
    doc = summary.as_json()

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
                "requests": ", ".join(f"{k} {v}" for k, v in doc["requests"].items()),
                "elapsed": f"{summary.elapsed_s:.1f} s ({rate:,.0f} objects/s)",
            }
        )
        if not summary.complete and not dry_run:
            out.info(f"not finished; continue with --resume --state {state_path}")

    out.result(doc, human)


def _create_batch_job(
    factory: Any,
    out: Output,
    names: StackNames,
    job: BackfillJob,
    function_arn: str | None,
    role_arn: str | None,
    dry_run: bool,
) -> None:
    assert job.inventory is not None
    account = factory.account_id()
    stack_role = names.role_arn(names.moderation_batch_role)
    role = role_arn or names.settings.moderation.batch_role_arn or stack_role
    # The stack's role may read only `[moderation] inventory_bucket`: refuse before S3 Batch Operations
    # accepts a job that then fails reading its manifest. Another role's grants are its owner's business.
    readable = names.settings.moderation.inventory_bucket if role == stack_role else None
    if role == stack_role:
        _check_manifest_readable(parse_s3_url(job.inventory)[0], readable, job.inventory)
    s3 = factory.client("s3")
    manifest = load_manifest(s3, job.inventory)
    if readable is not None and manifest.files_bucket != readable:
        raise UsageError(
            f"the inventory's data files are in bucket {manifest.files_bucket!r}, but the stack's "
            f"ModerationBatchRole may read only {readable!r}",
            hint="pass --role-arn with a role that may read both buckets",
        )
    # The stack has no function of its own for Batch Operations: the job invokes ModerationSweepFunction
    # through its `live` alias, and its handler hands Batch Operations events to batch_handler.
    target = function_arn or f"{names.arn('ModerationSweepFunction')}:{BATCH_ALIAS}"
    if function_arn is None and manifest.source_bucket != names.uploads_bucket:
        # The sweeper's role may tag UploadsBucket only: every task would fail with AccessDenied.
        raise UsageError(
            f"the inventory lists bucket {manifest.source_bucket!r}, but ModerationSweepFunction tags "
            f"only UploadsBucket ({names.uploads_bucket})",
            hint="use an inventory of UploadsBucket, or --function-arn for a function allowed to tag it",
        )
    request = batch_ops.BatchJobRequest(
        account=account,
        manifest=manifest,
        function_arn=target,
        role_arn=role,
        report_bucket_arn=names.arn("ProcessedBucket"),
        overwrite=job.overwrite,
    )
    params = request.params()
    if dry_run:
        out.result(
            {"dry_run": True, "create_job": params},
            lambda: out.info(
                f"would create an S3 Batch Operations job invoking {target} over {job.inventory}"
            ),
        )
        return
    job_id = batch_ops.create_job(factory.client("s3control"), request)
    doc = {
        "job_id": job_id,
        "source": job.inventory,
        "function_arn": target,
        "role_arn": role,
        "report": f"s3://{names.processed_bucket}/{batch_ops.REPORT_PREFIX}",
    }
    out.result(
        doc,
        lambda: out.info(
            f"created S3 Batch Operations job {job_id}; "
            f"follow it with `picops tag-backfill --job-status {job_id}`"
        ),
    )


def _check_manifest_readable(manifest_bucket: str, readable: str | None, url: str) -> None:
    if readable is None:
        raise UsageError(
            "the stack's ModerationBatchRole may read no inventory: [moderation] inventory_bucket is not set",
            hint=f"set [moderation] inventory_bucket = {manifest_bucket!r} (the bucket holding {url}) and "
            "run `picops provision`, or pass --role-arn with a role that may read it",
        )
    if manifest_bucket != readable:
        raise UsageError(
            f"{url} is in bucket {manifest_bucket!r}, but the stack's ModerationBatchRole may read only "
            f"[moderation] inventory_bucket = {readable!r}",
            hint=f"set [moderation] inventory_bucket = {manifest_bucket!r} and run `picops provision`, or "
            "pass --role-arn with a role that may read it",
        )


def _job_status(factory: Any, out: Output, job_id: str) -> None:
    doc = batch_ops.describe_job(factory.client("s3control"), factory.account_id(), job_id)
    out.result(doc, lambda: out.key_values({k: v for k, v in doc.items() if v not in (None, [])}))
    if doc["status"] == "Failed" or (doc["status"] == "Complete" and doc["failed"]):
        raise typer.Exit(1)
