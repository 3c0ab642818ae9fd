"""`picops ingest backfill`: renditions added to the configured set, made for originals already stored
(behaviour in docs/ingest.md, "Backfill").

For each candidate (the current version, from a listing or an S3 Inventory report: the tag-backfill
sources, `picops.core.tagging.sources`) the PROCESSED image job of that version is found; the renditions it
lacks are rendered from the original (one GET, one decode), written beside the others with the same
metadata, and merged into the job's `renditions` list. A job that already lists every wanted rendition is
`complete` and costs one read, so running it again resumes where it stopped. No notification is published:
the original's outcome did not change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from picops.aws_errors import code_of
from picops.core.batch_jobs import lambda_invoke_job
from picops.core.ingest.events import ObjectRef
from picops.core.ingest.jobs import PROCESSED, Job
from picops.core.ingest.pipeline import IngestConfig, IngestPipeline, Permanent, is_transient, output_metadata
from picops.core.ingest.renditions import Rendition, make_renditions, store
from picops.core.ingest.reprocess import current_version
from picops.core.ingest.thumbnails import ImageRejected

RESULTS = ("rendered", "would_render", "complete", "skipped", "failed")


@dataclass(frozen=True)
class BackfillItem:
    key: str
    version: str | None
    result: str  # one of RESULTS
    renditions: tuple[str, ...] = ()  # the names rendered (or that would be)
    reason: str | None = None
    transient: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "version": self.version,
            "result": self.result,
            "renditions": list(self.renditions),
            "reason": self.reason,
        }


def wanted_set(config: IngestConfig, names: Sequence[str] | None) -> tuple[Rendition, ...]:
    """The configured renditions, or those of them named; ValueError names an unknown one."""
    every = config.rendition_set()
    if not names:
        return every
    known = {r.name: r for r in every}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"not in [ingest] renditions: {', '.join(unknown)} (known: {', '.join(known)})")
    return tuple(known[n] for n in dict.fromkeys(names))


def missing(job: Job, wanted: Sequence[Rendition]) -> tuple[Rendition, ...]:
    have = {str(r.get("name")) for r in job.renditions or ()}
    if not job.renditions and isinstance(job.outputs, str):
        # Jobs from before rendition sets name their single thumbnail in `outputs` only.
        have |= {r.name for r in wanted if r.key(job.key) == job.outputs}
    return tuple(r for r in wanted if r.name not in have)


@dataclass
class Backfill:
    pipeline: IngestPipeline

    def one(self, ref: ObjectRef, wanted: Sequence[Rendition], *, dry_run: bool = False) -> BackfillItem:
        """Render what the current version's job lacks. `ref` carries a version id (inventory, Batch
        Operations) or the ETag (a listing)."""
        skip = self.pipeline.config.skip_reason(ref)
        if skip is not None:
            return BackfillItem(ref.key, ref.version_id, "skipped", reason=skip)
        try:
            job = self._job(ref)
            if job is None or job.status != PROCESSED or job.kind != "image":
                why = "no job for this version" if job is None else f"job is {job.status} {job.kind}"
                return BackfillItem(ref.key, ref.version_id, "skipped", reason=f"{why}: nothing to re-render")
            lacking = missing(job, wanted)
            names = tuple(r.name for r in lacking)
            if not lacking:
                return BackfillItem(ref.key, job.version, "complete")
            if dry_run:
                return BackfillItem(ref.key, job.version, "would_render", names)
            return self._render(job, lacking)
        except Permanent as exc:
            return BackfillItem(ref.key, ref.version_id, "failed", reason=str(exc))
        except botocore.exceptions.ClientError as exc:
            reason = f"{exc.operation_name}: {code_of(exc)}"
            return BackfillItem(ref.key, ref.version_id, "failed", reason=reason, transient=is_transient(exc))

    def _job(self, ref: ObjectRef) -> Job | None:
        if not ref.version_id:
            # A listing (or a Batch Operations task from a manifest without versions) names no version: the
            # job is the current version's (HeadObject), which an ETag alone cannot name reliably.
            current = current_version(self.pipeline.s3, ref.bucket, ref.key)
            if current is None:
                return None
            ref = current
        return self.pipeline.jobs.get(ref)

    def _render(self, job: Job, lacking: Sequence[Rendition]) -> BackfillItem:
        config, s3 = self.pipeline.config, self.pipeline.s3
        ref = ObjectRef(job.bucket, job.key, version_id=job.version, etag=job.etag)
        params: dict[str, Any] = {"Bucket": job.bucket, "Key": job.key}
        if job.version and job.version != "null":
            params["VersionId"] = job.version
        obj = s3.get_object(**params)
        try:
            data = obj["Body"].read()
        finally:
            obj["Body"].close()
        try:
            rendered = make_renditions(data, lacking, max_pixels=config.max_pixels)
        except ImageRejected as exc:
            raise Permanent(str(exc)) from None
        listed = store(s3, config.processed_bucket, rendered, job.key, output_metadata(ref))
        names = tuple(r.name for r in lacking)
        if not self.pipeline.jobs.add_renditions(job, listed):
            reason = "the job changed meanwhile (reprocessed or deleted); its own outcome stands"
            return BackfillItem(job.key, job.version, "skipped", names, reason)
        return BackfillItem(job.key, job.version, "rendered", names)


@dataclass(frozen=True)
class BatchBackfill:
    """An S3 Batch Operations job that invokes IngestFunction's `live` alias (its handler hands the tasks to
    `picops.handlers.ingest.batch_handler`) over an inventory's objects, with a completion report."""

    account: str
    manifest_arn: str  # arn:<partition>:s3:::<bucket>/<key> of manifest.json
    manifest_etag: str
    function_arn: str
    role_arn: str
    report_bucket_arn: str
    report_prefix: str
    renditions: tuple[str, ...]
    token: str

    def params(self) -> dict[str, Any]:
        """CreateJob parameters."""
        return lambda_invoke_job(
            account=self.account,
            function_arn=self.function_arn,
            user_arguments={"renditions": ",".join(self.renditions)},
            manifest_arn=self.manifest_arn,
            manifest_etag=self.manifest_etag,
            report_bucket_arn=self.report_bucket_arn,
            report_prefix=self.report_prefix,
            role_arn=self.role_arn,
            token=self.token,
            description=f"`picops ingest backfill` of {', '.join(self.renditions)}",
            priority=10,
        )

    def create(self, s3control: Any) -> str:
        return str(s3control.create_job(**self.params())["JobId"])
