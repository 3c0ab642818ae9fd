"""A resumable backfill: a source (listing or inventory) through the engine, checkpointed as it goes.

Used by `picops tag-backfill` (and its demo step and benchmark); core code, so no terminal concerns here:
progress is reported through a callback.

With `ledger_table` (JobsTable) set, objects the tag ledger vouches for are skipped without an S3 request
and every object found or made right is recorded; `BackfillRun.verify` ignores the ledger for skipping (every
object is read on S3) but still records. Neither is part of the job's identity, so checkpoints written
before the ledger existed resume unchanged.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.exceptions

from picops.core.tagging.checkpoint import JobState, load_state, save_state
from picops.core.tagging.engine import EngineOptions, TaggingEngine
from picops.core.tagging.ledger import Ledger
from picops.core.tagging.model import Candidate, Counts, ObjectResult, RunSummary, StreamDone
from picops.core.tagging.requests import RequestCounter
from picops.core.tagging.sources import inventory, listing
from picops.core.tagging.tracker import StreamPosition, Tracker
from picops.core.tagging.verdicts import VerdictLookup
from picops.errors import Interrupted, UsageError, input_field

CHECKPOINT_EVERY_S = 1.0


@dataclass(frozen=True)
class BackfillJob:
    """What to tag. Two runs with equal `identity()` are the same job (and may resume each other)."""

    table: str
    key_attribute: str
    status_attribute: str
    tag_key: str
    statuses: tuple[str, ...]
    overwrite: bool = True
    bucket: str | None = None
    prefix: str = ""
    inventory: str | None = None
    list_ranges: int = 1
    # The tag ledger's table (JobsTable); None: no ledger. Not part of identity().
    ledger_table: str | None = None

    def __post_init__(self) -> None:
        if (self.bucket is None) == (self.inventory is None):
            raise UsageError("a backfill reads either a bucket listing or an inventory manifest")

    @property
    def source(self) -> str:
        return self.inventory if self.inventory else f"s3://{self.bucket}/{self.prefix}"

    def identity(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "table": self.table,
            "tag_key": self.tag_key,
            "overwrite": self.overwrite,
            "list_ranges": self.list_ranges,
        }


@dataclass
class BackfillRun:
    """Knobs of one invocation (not part of the job's identity)."""

    concurrency: int = 32
    dry_run: bool = False
    limit: int | None = None
    state_path: Path | None = None
    resume: bool = False
    on_result: Callable[[ObjectResult], None] | None = None
    on_progress: Callable[[Counts, float], None] | None = None
    extra_clients: list[Any] = field(default_factory=list)
    # Check every object on S3 whatever the ledger says (entries are still written).
    verify: bool = False
    # One-line warnings (the ledger turned off, a failed ledger write): the CLI prints them to stderr.
    on_warning: Callable[[str], None] | None = None


def run_backfill(factory: Any, job: BackfillJob, run: BackfillRun) -> RunSummary:
    """Run (or resume) `job`. Raises Interrupted (exit 130) on Ctrl-C after saving the checkpoint."""
    if run.concurrency < 1:
        raise UsageError(f"{input_field('concurrency')} must be at least 1")
    if run.limit is not None and run.limit < 0:
        raise UsageError(f"{input_field('limit')} must not be negative")
    s3 = factory.client("s3", concurrency=run.concurrency)
    dynamodb = factory.client("dynamodb", concurrency=run.concurrency)
    state = _initial_state(job, run)
    if state.complete:
        return _summary(job, state, dict(state.requests), state.elapsed_s)
    counter = RequestCounter().attach(s3, dynamodb)
    tracker = Tracker(
        {name: StreamPosition(p.get("cursor"), bool(p.get("done"))) for name, p in state.positions.items()},
        Counts.from_dict(state.counts),
    )
    ledger = (
        Ledger(dynamodb, job.ledger_table, writer="tag-backfill", on_error=run.on_warning)
        if job.ledger_table
        else None
    )
    engine = _engine(s3, dynamodb, job, run, ledger)
    progress = _Progress(run, state, tracker, counter)
    try:
        end = engine.run(
            _source(s3, job, state.positions),
            tracker,
            on_result=progress.on_result,
            limit=run.limit,
            on_chunk=progress.on_chunk,
        )
    except BaseException as exc:
        progress.checkpoint()
        if ledger is not None:
            ledger.close()
        counter.detach()
        if isinstance(exc, KeyboardInterrupt):
            raise _interrupted(run) from None
        raise
    state.complete = end.exhausted
    # Send the queued ledger entries before the final counts: their requests belong to this run.
    stats = ledger.close() if ledger is not None else None
    progress.checkpoint()
    counter.detach()
    progress.show()
    elapsed = state.elapsed_s + progress.elapsed()
    summary = _summary(job, state, _add(state.requests, counter.snapshot()), elapsed)
    if stats is not None:
        summary.ledger = {"table": job.ledger_table, "verify": run.verify, **stats.as_dict()}
    return summary


def _engine(
    s3: Any, dynamodb: Any, job: BackfillJob, run: BackfillRun, ledger: Ledger | None
) -> TaggingEngine:
    return TaggingEngine(
        s3,
        VerdictLookup(
            dynamodb, job.table, key_attribute=job.key_attribute, status_attribute=job.status_attribute
        ),
        EngineOptions(job.tag_key, job.statuses, job.overwrite, run.dry_run, run.concurrency),
        ledger=ledger,
        must_verify=(lambda _candidate: True) if run.verify else None,
    )


def _interrupted(run: BackfillRun) -> Interrupted:
    where = f" {input_field('state_path')} {run.state_path}" if run.state_path else ""
    return Interrupted(
        "interrupted: progress saved",
        hint=f"continue with `picops tag-backfill {input_field('resume')}{where}` (same source flags)",
    )


class _Progress:
    """One run's progress reports and checkpoints; the engine calls these from its threads."""

    def __init__(self, run: BackfillRun, state: JobState, tracker: Tracker, counter: RequestCounter) -> None:
        self.run, self.state, self.tracker, self.counter = run, state, tracker, counter
        self.began = self.last_save = time.monotonic()
        self.last_shown = 0.0

    def elapsed(self) -> float:
        return time.monotonic() - self.began

    def show(self) -> None:
        if self.run.on_progress is not None:
            self.run.on_progress(self.tracker.display_counts(), self.elapsed())

    def on_result(self, result: ObjectResult) -> None:
        # Called from worker threads: keeps progress moving between chunks (at most ~5 updates/s).
        if self.run.on_result is not None:
            self.run.on_result(result)
        if self.run.on_progress is not None:
            now = time.monotonic()
            if now - self.last_shown >= 0.2:
                self.last_shown = now
                self.run.on_progress(self.tracker.display_counts(), now - self.began)

    def on_chunk(self) -> None:
        self.show()
        now = time.monotonic()
        if now - self.last_save >= CHECKPOINT_EVERY_S:
            self.checkpoint()
            self.last_save = now

    def checkpoint(self) -> None:
        positions, committed = self.tracker.snapshot()
        self.state.positions = positions
        self.state.counts = committed.as_dict()
        if self.run.state_path is not None and not self.run.dry_run:
            save_state(self.run.state_path, _with_usage(self.state, self.counter, self.elapsed()))


def _initial_state(job: BackfillJob, run: BackfillRun) -> JobState:
    fresh = JobState(job=job.identity())
    if run.dry_run:
        if run.resume:
            raise UsageError(
                f"{input_field('dry_run')} does not read or write checkpoints: drop {input_field('resume')}"
            )
        return fresh
    if not run.resume or run.state_path is None:
        return fresh
    saved = load_state(run.state_path)
    if saved is None:
        return fresh
    if saved.job != job.identity():
        raise UsageError(
            f"state file {run.state_path} belongs to a different job ({saved.job['source']})",
            hint="pass the same source flags as the interrupted run, or a different "
            + input_field("state_path"),
        )
    return saved


def _source(
    s3: Any, job: BackfillJob, positions: dict[str, dict[str, Any]]
) -> Iterator[Candidate | StreamDone]:
    if job.inventory:
        manifest = inventory.load_manifest(s3, job.inventory)
        return inventory.inventory_candidates(s3, manifest, positions=positions)
    assert job.bucket is not None
    return listing.list_candidates(s3, job.bucket, job.prefix, positions=positions, ranges=job.list_ranges)


def _add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return out


def _with_usage(state: JobState, counter: RequestCounter, elapsed: float) -> JobState:
    # The saved file carries the job's cumulative request counts and time; `state` keeps the prior values.
    return JobState(
        job=state.job,
        positions=state.positions,
        counts=state.counts,
        requests=_add(state.requests, counter.snapshot()),
        elapsed_s=state.elapsed_s + elapsed,
        complete=state.complete,
    )


def _summary(job: BackfillJob, state: JobState, requests: dict[str, int], elapsed: float) -> RunSummary:
    return RunSummary(
        source=job.source,
        counts=Counts.from_dict(state.counts),
        requests=requests,
        elapsed_s=elapsed,
        complete=state.complete,
    )


def bucket_object_count(factory: Any, bucket: str) -> int | None:
    """S3's daily storage metric (CloudWatch AWS/S3 NumberOfObjects), or None when it has no datapoint."""
    now = datetime.datetime.now(datetime.UTC)
    try:
        points = factory.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/S3",
            MetricName="NumberOfObjects",
            Dimensions=[
                {"Name": "BucketName", "Value": bucket},
                {"Name": "StorageType", "Value": "AllStorageTypes"},
            ],
            StartTime=now - datetime.timedelta(days=3),
            EndTime=now,
            Period=86400,
            Statistics=["Average"],
        )["Datapoints"]
    except botocore.exceptions.ClientError:
        return None  # an estimate is a courtesy: no permission for metrics must not stop the run
    if not points:
        return None
    latest = max(points, key=lambda p: p["Timestamp"])
    return int(latest["Average"])
