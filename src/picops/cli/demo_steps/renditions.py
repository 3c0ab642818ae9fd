"""Demo step: a rendition set from the photos people upload, renditions that follow their original, and a
rendition added later made for everything stored (docs/ingest.md, "Renditions", "Deletions", "Backfill").

Uploads, under a fresh folder of `[ingest] prefix`: a phone-style HEIC, an AVIF, a 12-megapixel WebP and a
12-megapixel JPEG, processed with a set of two renditions (the 256 px JPEG `thumbnail` and a 1024 px WebP
`web`) by one `LocalRuntime` drain; every rendition (name, size, bytes) is read back from the job records.
Then the JPEG's version is deleted and a second drain delivers S3's ObjectRemoved: its renditions and job go.
Last, a 512 px AVIF `card` joins the set and the backfill (what `picops ingest backfill --yes` does) renders
it for the three originals still stored. ok only when every step shows in the bucket and the jobs.
"""

from __future__ import annotations

import uuid
from typing import Any

from rich.markup import escape

from picops.cli.demo_steps import DemoContext, DemoStep, StepResult
from picops.cli.demo_steps import ingest as ingest_step
from picops.config import RenditionSettings, Settings
from picops.core.ingest import JobStore
from picops.core.ingest.backfill import Backfill, wanted_set
from picops.core.ingest.events import ObjectRef
from picops.core.ingest.pipeline import IngestConfig, IngestPipeline
from picops.stack.names import StackNames

FIRST_SET = (
    RenditionSettings(name="thumbnail", max_size=256, format="jpeg", quality=85),
    RenditionSettings(name="web", max_size=1024, format="webp", quality=80),
)
ADDED = RenditionSettings(name="card", max_size=512, format="avif", quality=60)
REMOVED = "jpeg"


def _with_renditions(settings: Settings, renditions: tuple[RenditionSettings, ...]) -> Settings:
    ingest = settings.ingest.model_copy(update={"renditions": renditions})
    return settings.model_copy(update={"ingest": ingest})


def run(ctx: DemoContext) -> StepResult:
    names = StackNames(ctx.settings, ctx.factory.account_id(), ctx.factory.region)
    folder = f"{ctx.settings.ingest.prefix}demo-renditions-{uuid.uuid4().hex[:8]}/"
    settings = _with_renditions(ctx.settings, FIRST_SET)
    sets = DemoContext(settings, ctx.factory, ctx.out, ctx.observer, ctx.shared)
    keys, versions = _upload(ctx, names, folder)
    problems: list[str] = []
    _drained(sets, problems)
    store = JobStore(ctx.factory.client("dynamodb"), names.physical("JobsTable"))
    made = {name: _renditions(store, names, key) for name, key in keys.items()}
    _check_set(made, [r.name for r in FIRST_SET], problems)
    _show(ctx, "rendered", made)

    s3 = ctx.factory.client("s3")
    s3.delete_object(Bucket=names.uploads_bucket, Key=keys[REMOVED], VersionId=versions[REMOVED])
    _drained(sets, problems)
    removed = _removal(s3, store, names, keys[REMOVED], made[REMOVED], problems)
    ctx.out.status(
        f"  deleted {escape(keys[REMOVED])}: job {removed['job']}, renditions left {removed['left']}"
    )

    grown = _with_renditions(ctx.settings, (*FIRST_SET, ADDED))
    backfill = _backfill(ctx, grown, names, [k for n, k in keys.items() if n != REMOVED])
    kept = {name: _renditions(store, names, key) for name, key in keys.items() if name != REMOVED}
    _check_set(kept, [r.name for r in (*FIRST_SET, ADDED)], problems)
    _check_stored(s3, names, kept, problems)
    _show(ctx, "after the backfill", kept)
    if sorted(backfill.values()) != ["rendered"] * len(kept):
        problems.append(f"backfill results {backfill}")

    count = sum(len(listed) for listed in made.values())
    detail = (
        f"{len(keys)} uploads -> {count} renditions; {keys[REMOVED]} deleted: job {removed['job']}, "
        f"{removed['left']} renditions left; backfill of {ADDED.name!r}: {sorted(backfill.values())}"
    )
    if problems:
        detail += "; " + "; ".join(problems)
    return StepResult(
        name="renditions (a set per upload, deletions follow, backfill adds one)",
        ok=not problems,
        detail=detail,
        data={"keys": keys, "renditions": made, "deleted": removed, "backfill": backfill, "after": kept},
    )


def _upload(ctx: DemoContext, names: StackNames, folder: str) -> tuple[dict[str, str], dict[str, str]]:
    keys = {
        "heic": f"{folder}camera roll/IMG_0100.heic",
        "avif": f"{folder}web/hero.avif",
        "webp": f"{folder}web/banner.webp",
        "jpeg": f"{folder}camera roll/IMG_0101.jpg",
    }
    bodies = {
        "heic": ingest_step.heic(),
        "avif": ingest_step.avif(),
        "webp": ingest_step.webp_12mp(),
        "jpeg": ingest_step.jpeg_12mp(),
    }
    s3 = ctx.factory.client("s3")
    versions = {
        name: str(s3.put_object(Bucket=names.uploads_bucket, Key=key, Body=bodies[name]).get("VersionId"))
        for name, key in keys.items()
    }
    ctx.out.status(f"  uploaded {len(keys)} photos under {escape(folder)}")
    return keys, versions


def _drained(ctx: DemoContext, problems: list[str]) -> None:
    mapping = ingest_step.drain(ctx)
    if mapping.get("status") != "ok":
        problems.append(
            f"{ingest_step.MAPPING} {mapping.get('status', 'missing')}: {mapping.get('detail', '')}"
        )


def _renditions(store: JobStore, names: StackNames, key: str) -> list[dict[str, Any]]:
    """The current job's renditions, as the job record lists them."""
    jobs = store.jobs_for(names.uploads_bucket, key)
    listed = jobs[0].renditions if jobs else None
    return [
        {f: r.get(f) for f in ("name", "key", "format", "width", "height", "bytes")} for r in listed or ()
    ]


def _check_set(made: dict[str, list[dict[str, Any]]], wanted: list[str], problems: list[str]) -> None:
    for name, listed in made.items():
        if [r["name"] for r in listed] != wanted:
            problems.append(f"{name}: renditions {[r['name'] for r in listed]}, expected {wanted}")


def _check_stored(
    s3: Any, names: StackNames, made: dict[str, list[dict[str, Any]]], problems: list[str]
) -> None:
    for listed in made.values():
        for rendition in listed:
            head = s3.head_object(Bucket=names.processed_bucket, Key=rendition["key"])
            if head["ContentLength"] != rendition["bytes"]:
                problems.append(
                    f"{rendition['key']}: {head['ContentLength']} bytes, the job says {rendition['bytes']}"
                )


def _show(ctx: DemoContext, when: str, made: dict[str, list[dict[str, Any]]]) -> None:
    ctx.out.status(f"  renditions {when}:")
    for name, listed in made.items():
        for r in listed:
            ctx.out.status(
                f"    {name:5s} {r['name']:9s} {r['width']}x{r['height']:<5} {r['bytes']:>7,} bytes"
            )


def _removal(
    s3: Any, store: JobStore, names: StackNames, key: str, listed: list[dict[str, Any]], problems: list[str]
) -> dict[str, Any]:
    """What the deletion left: the job's status and the renditions still in ProcessedBucket."""
    left = []
    for rendition in listed:
        found = s3.list_objects_v2(Bucket=names.processed_bucket, Prefix=rendition["key"]).get("Contents", [])
        left += [o["Key"] for o in found if o["Key"] == rendition["key"]]
    jobs = [j.status for j in store.jobs_for(names.uploads_bucket, key)]
    if left:
        problems.append(f"renditions of the deleted {key} remain: {left}")
    if jobs != ["DELETED"]:
        problems.append(f"job of the deleted {key}: {jobs} (expected ['DELETED'])")
    return {"key": key, "job": jobs[0] if len(jobs) == 1 else jobs, "left": len(left), "removed": len(listed)}


def _backfill(ctx: DemoContext, settings: Settings, names: StackNames, keys: list[str]) -> dict[str, str]:
    """The added rendition rendered for each stored original: its result per key."""
    config = IngestConfig.from_settings(settings.ingest, names)
    pipeline = IngestPipeline(
        s3=ctx.factory.client("s3"), dynamodb=ctx.factory.client("dynamodb"), sns=None, config=config
    )
    engine = Backfill(pipeline)
    wanted = wanted_set(config, [ADDED.name])
    results = {key: engine.one(ObjectRef(names.uploads_bucket, key), wanted).result for key in keys}
    ctx.out.status(
        f"  added {ADDED.name!r} ({ADDED.max_size} px {ADDED.format}) and ran the backfill: {results}"
    )
    return results


STEP = DemoStep(title="rendition sets, deletions and backfill (local run, ingest backfill)", run=run)
