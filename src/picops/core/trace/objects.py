"""An uploaded object's records: its versions in UploadsBucket, each version's ingest job (claimed,
finished with its outputs or its reason, renditions, notification) and its moderation tags."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from picops.aws_errors import OBJECT_MISSING, code_of, is_missing
from picops.core.ingest.jobs import FAILED, PROCESSED, Job, JobStore
from picops.core.tagging.ledger import LEDGER_SK, ledger_pk
from picops.core.tagging.verdicts import VerdictLookup
from picops.core.trace.timeline import Entry, Timeline, ms_of_iso
from picops.errors import ResourceMissing

BUCKET = "UploadsBucket"
JOBS = "JobsTable"


def _version_of(job: Job) -> str:
    return job.version or (job.sk[2:] if job.sk.startswith("V#") else job.sk)


def object_versions(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    """Every version and delete marker of exactly `key` (a listing by prefix also returns longer keys)."""
    found: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        for kind in ("Versions", "DeleteMarkers"):
            found += [{**v, "kind": kind} for v in page.get(kind, []) if v.get("Key") == key]
    return found


def _version_entries(versions: list[dict[str, Any]]) -> list[Entry]:
    entries = []
    for v in versions:
        what = (
            "delete marker"
            if v["kind"] == "DeleteMarkers"
            else f"version uploaded ({v.get('Size', 0)} bytes)"
        )
        at_ms = int(v["LastModified"].timestamp() * 1000)
        entries.append(Entry(at_ms, BUCKET, what, {"version_id": v.get("VersionId"), "etag": v.get("ETag")}))
    return entries


def _job_entries(job: Job) -> list[Entry]:
    ids = {"version_id": _version_of(job)}
    entries: list[Entry] = []
    created = ms_of_iso(job.created_at)
    if created is not None:
        entries.append(Entry(created, JOBS, "ingest job claimed", {**ids, "kind": job.kind}))
    finished = ms_of_iso(job.finished_at)
    if finished is not None:
        detail = f": {job.reason}" if job.status == FAILED else ""
        fields = {**ids, "attempts": job.attempts, "outputs": job.outputs, "reason": job.reason}
        if job.renditions is not None:
            fields["renditions"] = [r.get("name") for r in job.renditions]
        entries.append(Entry(finished, JOBS, f"ingest job {job.status}{detail}", fields, order=1))
    notified = ms_of_iso(job.notified)
    if notified is not None:
        entries.append(Entry(notified, JOBS, f"NotifyTopic told of {job.status}", ids, order=2))
    return entries


def _tags(s3: Any, bucket: str, key: str, version: str | None) -> dict[str, str] | None:
    kwargs = {"Bucket": bucket, "Key": key, **({"VersionId": version} if version else {})}
    try:
        tags = s3.get_object_tagging(**kwargs)["TagSet"]
    except Exception as exc:
        if is_missing(exc, OBJECT_MISSING, also={"InvalidArgument"}):
            return None
        raise
    return {t["Key"]: t["Value"] for t in tags}


@dataclass(frozen=True)
class Moderation:
    """What moderation knows of an object: the verdict in ModerationTable now (None: none yet), the tag
    ledger's record of the last tag a sweep or batch task wrote or confirmed, and what could not be read."""

    verdict: str | None = None
    entries: list[Entry] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)


def moderation_of(lookup: VerdictLookup, jobs: JobStore, bucket: str, key: str) -> Moderation:
    verdict: str | None = None
    gaps: list[str] = []
    try:
        verdict = lookup.lookup([key]).get(key)
    except botocore.exceptions.ClientError as exc:
        gaps.append(f"ModerationTable {lookup.table}: verdict not read ({code_of(exc)})")
    try:
        item = jobs.dynamodb.get_item(
            TableName=jobs.table, Key={"pk": {"S": ledger_pk(bucket, key)}, "sk": {"S": LEDGER_SK}}
        ).get("Item")
    except botocore.exceptions.ClientError as exc:
        gaps.append(f"{JOBS} {jobs.table}: tag ledger not read ({code_of(exc)})")
        item = None
    return Moderation(verdict, _ledger_entries(item), gaps)


# The tag ledger's writers (core/tagging/ledger.py), as the timeline names them.
_WRITERS = {
    "sweep": "the hourly sweep",
    "batch-operations": "an S3 Batch Operations task",
    "tag-backfill": "`picops tag-backfill`",
}


def _ledger_entries(item: dict[str, Any] | None) -> list[Entry]:
    if not item or "written_at" not in item:
        return []
    value = {name: str(item.get(name, {}).get("S", "")) for name in ("tag_key", "verdict", "writer", "etag")}
    writer = _WRITERS.get(value["writer"], value["writer"])
    what = f"tag {value['tag_key']}={value['verdict']} written or confirmed by {writer}"
    fields = {"verdict": value["verdict"], "etag": value["etag"], "writer": value["writer"]}
    return [Entry(int(item["written_at"]["N"]) * 1000, JOBS, what, fields, order=3)]


def trace_object(
    s3: Any,
    jobs: JobStore,
    bucket: str,
    key: str,
    version: str | None = None,
    *,
    tag_key: str,
    moderation: Moderation | None = None,
) -> Timeline:
    versions = object_versions(s3, bucket, key)
    found = jobs.jobs_for(bucket, key)
    if version is not None:
        versions = [v for v in versions if v.get("VersionId") == version]
        found = [j for j in found if version in (j.version, j.etag, _version_of(j))]
    if not versions and not found:
        what = f"{key} version {version}" if version else key
        raise ResourceMissing(f"no object {what} in {bucket} and no ingest job for it in {jobs.table}")
    timeline = Timeline(f"object s3://{bucket}/{key}" + (f" version {version}" if version else ""))
    timeline.add(_version_entries(versions))
    for job in found:
        timeline.add(_job_entries(job))
    live = version or next(
        (v.get("VersionId") for v in versions if v.get("IsLatest") and v["kind"] == "Versions"), None
    )
    tags = _tags(s3, bucket, key, live) if versions else None
    verdict = moderation.verdict if moderation is not None else None
    timeline.state = {
        "bucket": bucket,
        "key": key,
        "jobs": [j.as_dict() for j in found],
        "tags": tags,
        "moderation_verdict": verdict,
    }
    if moderation is not None:
        timeline.add(moderation.entries)
        timeline.gaps += moderation.gaps
    timeline.verdict, timeline.ok = object_verdict(found, tags, tag_key, verdict)
    return timeline


def object_verdict(
    jobs: list[Job], tags: dict[str, str] | None, tag_key: str, verdict: str | None = None
) -> tuple[str, bool]:
    """Judged by the newest version's job (`jobs_for` lists newest first); a tag that is not the moderation
    verdict (yet) is said."""
    if not jobs:
        return "FAILED: ingest has no job for it (never delivered, or outside [ingest] prefix)", False
    job = jobs[0]
    if job.status == FAILED:
        return f"FAILED: {job.reason}", False
    if job.status != PROCESSED:
        return f"in progress: ingest job {job.status} (attempt {job.attempts})", True
    outputs = len(job.renditions) if job.renditions is not None else None
    made = f"{outputs} renditions" if outputs is not None else "outputs written"
    tag = (tags or {}).get(tag_key)
    said = f"processed: {made}; " + (f"tagged {tag_key}={tag}" if tag else "not tagged yet")
    if verdict is not None and verdict != tag:
        said += f" (moderation verdict: {verdict})"
    return said, True
