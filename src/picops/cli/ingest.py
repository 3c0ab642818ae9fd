"""`picops ingest`: job records (status, failures) and sending objects through ingest again (reprocess)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from picops.cli.confirm import confirm
from picops.cli.output import Output
from picops.cli.state import AppState, get_state
from picops.core.ingest import Job, JobStore, parse_since, reprocess
from picops.errors import OperationFailed, ResourceMissing, UsageError
from picops.stack.names import StackNames

app = typer.Typer(
    help="The ingest pipeline's jobs: status of an object, recent failures, reprocess objects.",
    no_args_is_help=True,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
SinceOpt = Annotated[
    str,
    typer.Option("--since", metavar="DURATION|TIME", help="How far back: 24h, 7d, 90m, or an ISO 8601 time."),
]


def _begin(ctx: typer.Context, json_mode: bool) -> tuple[AppState, Output, StackNames, JobStore]:
    state = get_state(ctx)
    out = state.output(json_mode)
    factory = state.factory
    out.target(factory.describe_target())
    names = StackNames(state.settings, factory.account_id(), factory.region)
    return state, out, names, JobStore(factory.client("dynamodb"), names.physical("JobsTable"))


def _since(text: str) -> dt.datetime:
    try:
        return parse_since(text)
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from None


def _version_of(job: Job) -> str:
    return job.version or (job.sk[2:] if job.sk.startswith("V#") else job.sk)


def _job_rows(jobs: list[Job], *, with_key: bool) -> list[list[Any]]:
    rows = []
    for j in jobs:
        detail = j.reason if j.status == "FAILED" else j.outputs
        row = [
            _version_of(j),
            j.status,
            j.kind or "-",
            j.attempts,
            j.finished_at or j.updated_at or "-",
            # Whether NotifyTopic heard of the outcome (a finished job without it is republished).
            "yes" if j.notified is not None else "no",
            detail,
        ]
        rows.append([j.key, *row] if with_key else row)
    return rows


@app.command("status")
def status(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(metavar="KEY", help="Object key in UploadsBucket (not URL-encoded).")],
    version: Annotated[
        str | None, typer.Option("--version", metavar="V", help="Only this version id (or ETag).")
    ] = None,
    json_mode: JsonOpt = False,
) -> None:
    """The job items for one object (every version, newest first): status, outputs, reasons, attempts."""
    _, out, names, store = _begin(ctx, json_mode)
    jobs = store.jobs_for(names.uploads_bucket, key)
    if version is not None:
        jobs = [j for j in jobs if version in (j.version, j.etag, _version_of(j))]
    if not jobs:
        what = f"{key} version {version}" if version else key
        raise ResourceMissing(
            f"no ingest job for {what} in {names.physical('JobsTable')} (bucket {names.uploads_bucket})",
            hint="check the key (exact, not URL-encoded) and that it is under [ingest] prefix",
        )

    def render() -> None:
        out.info(f"s3://{names.uploads_bucket}/{key}")
        out.table(
            None,
            ["version", "status", "kind", "attempts", "finished", "notified", "outputs / reason"],
            _job_rows(jobs, with_key=False),
        )

    out.result(
        {"bucket": names.uploads_bucket, "key": key, "jobs": [j.as_dict() for j in jobs]},
        render,
    )


@app.command("failures")
def failures(
    ctx: typer.Context,
    since: SinceOpt = "24h",
    kind: Annotated[
        str | None, typer.Option("--kind", metavar="image|json", help="Only this kind of object.")
    ] = None,
    json_mode: JsonOpt = False,
) -> None:
    """FAILED jobs with their reasons, newest first (a listing: exit 0 even when there are some)."""
    if kind is not None and kind not in ("image", "json"):
        raise UsageError(f"--kind must be image or json, not {kind!r}")
    start = _since(since)
    _, out, _names, store = _begin(ctx, json_mode)
    jobs = [j for j in store.failures(start) if kind is None or j.kind == kind]

    def render() -> None:
        if not jobs:
            out.info(f"no failed ingest jobs since {start:%Y-%m-%d %H:%M} UTC")
            return
        out.table(
            f"failed ingest jobs since {start:%Y-%m-%d %H:%M} UTC",
            ["key", "version", "status", "kind", "attempts", "failed", "notified", "reason"],
            _job_rows(jobs, with_key=True),
        )

    out.result(
        {
            "since": start.isoformat(),
            "kind": kind,
            "count": len(jobs),
            "failures": [j.as_dict() for j in jobs],
        },
        render,
    )


@app.command("reprocess")
def reprocess_command(
    ctx: typer.Context,
    keys: Annotated[
        list[str] | None,
        typer.Argument(metavar="KEY", help="Object keys in UploadsBucket (not URL-encoded)."),
    ] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Every object whose job FAILED (see --since).")
    ] = False,
    since: SinceOpt = "24h",
    force: Annotated[
        bool, typer.Option("--force", help="Also objects already PROCESSED: a new attempt and notification.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be sent; send nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_mode: JsonOpt = False,
) -> None:
    """Send S3-shaped notifications for objects' current versions to IngestQueue (never copies objects).

    Without --force a version already PROCESSED is skipped (and reported); a FAILED one is tried again.
    """
    if bool(keys) == failed:
        raise UsageError("give object KEYs or --failed (one of them)")
    state, out, names, store = _begin(ctx, json_mode)
    factory = state.factory
    wanted = list(keys or [])
    if failed:
        wanted = [j.key for j in store.failures(_since(since))]
    queue_url = factory.client("sqs").get_queue_url(QueueName=names.physical("IngestQueue"))["QueueUrl"]
    if wanted and not dry_run:
        what = f"{len(wanted)} object(s)" + (" (--force: processed ones too)" if force else "")
        confirm(out, f"Send {what} through ingest again via {names.physical('IngestQueue')}", yes=yes)
    results = reprocess(
        factory.client("s3"),
        factory.client("sqs"),
        store,
        bucket=names.uploads_bucket,
        queue_url=queue_url,
        keys=wanted,
        region=factory.region,
        force=force,
        dry_run=dry_run,
    )
    counts: dict[str, int] = {}
    for r in results:
        counts[r.result] = counts.get(r.result, 0) + 1

    def render() -> None:
        if not results:
            out.info("nothing to reprocess")
            return
        out.table(
            "reprocess" + (" (dry run)" if dry_run else ""),
            ["key", "version", "result", "reason"],
            [[r.key, r.version or "-", r.result, r.reason or ""] for r in results],
        )
        out.info(", ".join(f"{n} {k}" for k, n in sorted(counts.items())))

    out.result(
        {
            "queue": queue_url,
            "dry_run": dry_run,
            "force": force,
            "counts": counts,
            "objects": [r.as_dict() for r in results],
        },
        render,
    )
    if counts.get("missing") or counts.get("failed"):
        raise OperationFailed(
            f"{counts.get('missing', 0)} missing, {counts.get('failed', 0)} not sent (see the report)"
        )


@app.command("gc")
def gc_command(
    ctx: typer.Context,
    prefix: Annotated[
        str | None,
        typer.Option(
            "--prefix", metavar="PREFIX", help="Only originals under this prefix ([ingest] prefix)."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report the orphans; remove nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_mode: JsonOpt = False,
) -> None:
    """Remove renditions and drop records whose original is gone (deleted before deletions were followed).

    Each orphan's job is marked DELETED; a rendition is deleted only while it is still that version's.
    """
    from picops.core.ingest.gc import collect, find_orphans
    from picops.core.ingest.pipeline import IngestConfig
    from picops.core.ingest.removal import Removal

    state, out, names, _store = _begin(ctx, json_mode)
    factory = state.factory
    config = IngestConfig.from_settings(state.settings.ingest, names)
    if prefix is not None and not prefix.startswith(config.prefix):
        raise UsageError(f"--prefix {prefix!r} is not under [ingest] prefix {config.prefix!r}")
    removal = Removal(s3=factory.client("s3"), dynamodb=factory.client("dynamodb"), config=config)
    orphans = find_orphans(removal, prefix=prefix)
    outputs = sum(len(o.as_dict()["outputs"]["renditions"]) for o in orphans)
    if orphans and not dry_run:
        question = (
            f"Remove the outputs of {len(orphans)} deleted original(s) ({outputs} rendition(s) in "
            f"{names.processed_bucket}, and their drop records)"
        )
        confirm(out, question, yes=yes)
        orphans = collect(removal, orphans)

    def render() -> None:
        if not orphans:
            out.info("no orphaned outputs")
            return
        out.table(
            "orphaned outputs" + (" (dry run)" if dry_run else ""),
            ["key", "version", "why", "renditions", "records"],
            [_gc_row(o.as_dict(), dry_run) for o in orphans],
        )

    out.result(
        {"dry_run": dry_run, "count": len(orphans), "orphans": [o.as_dict() for o in orphans]},
        render,
    )


def _gc_row(orphan: dict[str, Any], dry_run: bool) -> list[Any]:
    done = orphan["removed"]
    planned = orphan["outputs"]
    if dry_run or done is None:
        return [
            orphan["key"],
            orphan["version"] or "-",
            orphan["why"],
            len(planned["renditions"]),
            planned["records"],
        ]
    return [orphan["key"], orphan["version"] or "-", orphan["why"], len(done["renditions"]), done["records"]]


# DynamoDB on-demand writes per million write request units (us-east-1, as the other prices in cli/costs.py).
_DYNAMODB_PER_MILLION_WRITES = 0.625


def _backfill_estimate(plan: list[Any]) -> Any:
    from picops.cli import costs

    objects = len(plan)
    puts = sum(len(p.renditions) for p in plan)
    items = {
        "GET originals": objects / 1000 * costs.S3_GET_PER_1000,
        "PUT renditions": puts / 1000 * costs.S3_PUT_PER_1000,
        "job updates": objects / 1e6 * _DYNAMODB_PER_MILLION_WRITES,
    }
    basis = "us-east-1 list prices, requests only, the planning reads already spent"
    return costs.Estimate("originals to re-render", objects, sum(items.values()), items, basis)


def _backfill_refs(factory: Any, bucket: str, prefix: str, inventory: str | None) -> Any:
    """The current versions under `prefix`: a paginated listing, or an S3 Inventory report (tag-backfill's
    sources), as object references."""
    from picops.core.ingest.events import ObjectRef
    from picops.core.tagging.model import Candidate
    from picops.core.tagging.sources import inventory_candidates, list_candidates, load_manifest

    s3 = factory.client("s3")
    if inventory is None:
        source = list_candidates(s3, bucket, prefix)
    else:
        source = inventory_candidates(s3, load_manifest(s3, inventory))
    for c in source:
        if isinstance(c, Candidate) and c.bucket == bucket and c.key.startswith(prefix):
            yield ObjectRef(c.bucket, c.key, version_id=c.version_id, etag=c.etag)


@app.command("backfill")
def backfill_command(
    ctx: typer.Context,
    prefix: Annotated[
        str | None,
        typer.Option(
            "--prefix", metavar="PREFIX", help="Only originals under this prefix ([ingest] prefix)."
        ),
    ] = None,
    inventory: Annotated[
        str | None,
        typer.Option(
            "--inventory", metavar="MANIFEST", help="Read the objects from an S3 Inventory manifest.json URL."
        ),
    ] = None,
    renditions: Annotated[
        str | None,
        typer.Option("--renditions", metavar="NAMES", help="Only these renditions (comma-separated names)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be rendered; write nothing.")
    ] = False,
    engine_name: Annotated[
        str,
        typer.Option(
            "--engine",
            metavar="direct|batch-operations",
            help="direct: render from this process; batch-operations: an S3 Batch Operations job over "
            "--inventory invoking IngestFunction (needs --role-arn).",
        ),
    ] = "direct",
    role_arn: Annotated[
        str | None,
        typer.Option(
            "--role-arn", metavar="ARN", help="The role S3 Batch Operations assumes (batch-operations)."
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_mode: JsonOpt = False,
) -> None:
    """Render the renditions stored originals lack (after adding one to [ingest] renditions).

    Only PROCESSED image jobs of current versions; a job listing every wanted rendition is left alone, so
    running it again resumes. Exit 1 if an object failed.
    """
    from picops.core.ingest.backfill import Backfill, wanted_set
    from picops.core.ingest.pipeline import IngestConfig, IngestPipeline

    state, out, names, _store = _begin(ctx, json_mode)
    factory = state.factory
    config = IngestConfig.from_settings(state.settings.ingest, names)
    under = prefix if prefix is not None else config.prefix
    if not under.startswith(config.prefix):
        raise UsageError(f"--prefix {under!r} is not under [ingest] prefix {config.prefix!r}")
    try:
        wanted = wanted_set(config, [n.strip() for n in (renditions or "").split(",") if n.strip()])
    except ValueError as exc:
        raise UsageError(f"--renditions: {exc}") from None
    if engine_name == "batch-operations":
        _batch_backfill(
            out, factory, names, inventory, role_arn, [r.name for r in wanted], dry_run=dry_run, yes=yes
        )
        return
    if engine_name != "direct":
        raise UsageError(f"--engine must be direct or batch-operations, not {engine_name!r}")
    pipeline = IngestPipeline(
        s3=factory.client("s3"), dynamodb=factory.client("dynamodb"), sns=None, config=config
    )
    engine = Backfill(pipeline)
    plan = [
        engine.one(ref, wanted, dry_run=True)
        for ref in _backfill_refs(factory, names.uploads_bucket, under, inventory)
    ]
    todo = [p for p in plan if p.result == "would_render"]
    estimate = _backfill_estimate(todo)
    out.status(estimate.line())
    results = plan
    if todo and not dry_run:
        confirm(
            out,
            f"Render {sum(len(p.renditions) for p in todo)} rendition(s) for {len(todo)} original(s)",
            yes=yes,
        )
        results = [p for p in plan if p.result != "would_render"] + _render(out, engine, todo, wanted, names)
    _backfill_report(out, results, estimate, dry_run=dry_run, renditions=[r.name for r in wanted])


def _render(out: Output, engine: Any, todo: list[Any], wanted: Any, names: StackNames) -> list[Any]:
    from picops.core.ingest.events import ObjectRef

    done = []
    with out.progress("re-rendering", total=len(todo)) as bar:
        for index, item in enumerate(todo, 1):
            ref = ObjectRef(names.uploads_bucket, item.key, version_id=item.version)
            done.append(engine.one(ref, wanted))
            bar.advance(bar.task_ids[0])
            if index % 100 == 0:
                out.status(f"{index:,} of {len(todo):,} originals re-rendered")
    return done


def _backfill_report(
    out: Output, results: list[Any], estimate: Any, *, dry_run: bool, renditions: list[str]
) -> None:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.result] = counts.get(r.result, 0) + 1

    def render() -> None:
        shown = [r for r in results if r.result not in ("complete",)]
        if shown:
            out.table(
                "backfill" + (" (dry run)" if dry_run else ""),
                ["key", "version", "result", "renditions / reason"],
                [
                    [r.key, r.version or "-", r.result, ", ".join(r.renditions) or r.reason or ""]
                    for r in shown
                ],
            )
        out.info(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no originals found")

    out.result(
        {
            "dry_run": dry_run,
            "renditions": renditions,
            "counts": counts,
            "estimate": estimate.as_dict(),
            "objects": [r.as_dict() for r in results],
        },
        render,
    )
    if counts.get("failed"):
        raise OperationFailed(f"{counts['failed']} original(s) failed (see the report)")


def _batch_backfill(
    out: Output,
    factory: Any,
    names: StackNames,
    inventory: str | None,
    role_arn: str | None,
    renditions: list[str],
    *,
    dry_run: bool,
    yes: bool,
) -> None:
    import uuid

    from picops.cli import costs
    from picops.core.ingest.backfill import BatchBackfill
    from picops.core.tagging.sources import count_rows, load_manifest
    from picops.stack.names import partition_of_arn
    from picops.stack.state_objects import BATCH_REPORT_PREFIX

    if inventory is None or role_arn is None:
        raise UsageError("--engine batch-operations needs --inventory MANIFEST and --role-arn ARN")
    s3 = factory.client("s3")
    manifest = load_manifest(s3, inventory)
    report_bucket = names.arn("ProcessedBucket")
    job = BatchBackfill(
        account=factory.account_id(),
        manifest_arn=f"arn:{partition_of_arn(report_bucket)}:s3:::{manifest.bucket}/{manifest.key}",
        manifest_etag=manifest.etag,
        function_arn=f"{names.arn('IngestFunction')}:live",
        role_arn=role_arn,
        report_bucket_arn=report_bucket,
        report_prefix=BATCH_REPORT_PREFIX,
        renditions=tuple(renditions),
        token=str(uuid.uuid4()),
    )
    objects = count_rows(s3, manifest)
    items = {
        "job": costs.BATCH_JOB_FEE,
        "objects": objects / 1e6 * costs.BATCH_PER_MILLION_OBJECTS,
        "lambda requests": objects / 1e6 * costs.LAMBDA_PER_MILLION_REQUESTS,
        "GET originals": objects / 1000 * costs.S3_GET_PER_1000,
        "PUT renditions": objects * len(renditions) / 1000 * costs.S3_PUT_PER_1000,
    }
    basis = "us-east-1 list prices, upper bound (every object re-rendered), Lambda duration not included"
    estimate = costs.Estimate(
        "objects (S3 Batch Operations tasks)", objects, sum(items.values()), items, basis
    )
    out.status(estimate.line())
    document: dict[str, Any] = {
        "dry_run": dry_run,
        "create_job": job.params(),
        "estimate": estimate.as_dict(),
    }
    if not dry_run:
        confirm(out, f"Create a billable S3 Batch Operations job over {objects:,} objects", yes=yes)
        document["job_id"] = job.create(factory.client("s3control"))
    out.result(document, lambda: out.info(f"job {document.get('job_id', '(dry run)')}: {objects:,} objects"))
