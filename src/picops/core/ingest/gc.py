"""`picops ingest gc`: derived outputs whose original is gone, left from before deletions were followed
(docs/ingest.md, "Deletions").

One listing of UploadsBucket's versions under `[ingest] prefix` and one scan of JobsTable's job items
decide: a finished job is an orphan when its version no longer exists, or when its key's current version
is a delete marker (the original is deleted as a user sees it). Each orphan goes through the same removal
as an ObjectRemoved event (`picops.core.ingest.removal`): its job marked DELETED, its renditions deleted
while they are still that version's, its drop records while they are still that drop's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from picops.core.ingest.events import ObjectRef
from picops.core.ingest.jobs import DELETED, IN_PROGRESS, JOB_PREFIX, Job
from picops.core.ingest.removal import Removal, Removed, rendition_keys


@dataclass
class Versions:
    """What UploadsBucket holds under the prefix: every version id per key, and the deleted keys."""

    present: dict[str, set[str]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)  # keys whose current version is a delete marker


@dataclass(frozen=True)
class Orphan:
    job: Job
    why: str
    removed: Removed | None = None  # set once collected

    @property
    def ref(self) -> ObjectRef:
        version = self.job.version if self.job.version and self.job.version != "null" else None
        return ObjectRef(self.job.bucket, self.job.key, version_id=version, etag=self.job.etag)

    def as_dict(self) -> dict[str, Any]:
        planned = {"renditions": list(rendition_keys(self.job)), "records": len(self.job.records or ())}
        return {
            "bucket": self.job.bucket,
            "key": self.job.key,
            "version": self.job.version,
            "status": self.job.status,
            "why": self.why,
            "outputs": planned,
            "removed": self.removed.as_dict() if self.removed else None,
        }


def list_versions(s3: Any, bucket: str, prefix: str) -> Versions:
    found = Versions()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for v in page.get("Versions", []):
            found.present.setdefault(v["Key"], set()).add(str(v.get("VersionId") or "null"))
        for m in page.get("DeleteMarkers", []):
            if m.get("IsLatest"):
                found.deleted.add(m["Key"])
    return found


def jobs(dynamodb: Any, table: str, bucket: str) -> Iterator[Job]:
    """Every job item of `bucket`'s objects (a Scan: gc is an occasional sweep, not a hot path)."""
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="begins_with(pk, :job)",
        ExpressionAttributeValues={":job": {"S": f"{JOB_PREFIX}{bucket}/"}},
        ConsistentRead=True,
    ):
        for item in page.get("Items", []):
            yield Job.from_item(item)


def find_orphans(removal: Removal, *, prefix: str | None = None) -> list[Orphan]:
    config = removal.config
    under = prefix or config.prefix
    versions = list_versions(removal.s3, config.uploads_bucket, under)
    orphans = []
    for job in jobs(removal.dynamodb, config.jobs_table, config.uploads_bucket):
        # An unfinished job is another attempt's business; a DELETED one was collected already.
        if job.status in (DELETED, IN_PROGRESS) or not job.key.startswith(under):
            continue
        why = _why(job, versions)
        if why:
            orphans.append(Orphan(job, why))
    return sorted(orphans, key=lambda o: (o.job.key, o.job.version or ""))


def _why(job: Job, versions: Versions) -> str | None:
    if job.key in versions.deleted:
        return "the key's current version is a delete marker"
    if (job.version or "null") not in versions.present.get(job.key, set()):
        return "the original version no longer exists"
    return None


def collect(
    removal: Removal, orphans: list[Orphan], *, progress: Callable[[Orphan], None] | None = None
) -> list[Orphan]:
    """Remove each orphan's outputs; an orphan claimed again meanwhile is left (reported as not removed)."""
    done = []
    for orphan in orphans:
        ref = orphan.ref
        free, job = removal.jobs.mark_deleted(ref, sequencer=None)
        if free:
            removed = removal.remove_outputs(ref, job)
        else:
            removed = Removed(kept=tuple(rendition_keys(orphan.job)))
        done.append(Orphan(orphan.job, orphan.why, removed))
        if progress is not None:
            progress(orphan)
    return done
