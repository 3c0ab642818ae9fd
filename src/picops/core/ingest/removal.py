"""Derived outputs follow their original: an `s3:ObjectRemoved:*` event for an upload removes what ingest
made from that version (behaviour in docs/ingest.md, "Deletions").

- `ObjectRemoved:Delete` names the removed version; `ObjectRemoved:DeleteMarkerCreated` names the marker,
  and the version it hides (the key's newest version at or before the marker) is the one whose outputs go.
- The job is marked DELETED first (a tombstone when the creation was never processed, so a late
  ObjectCreated for that version is skipped); a job still claimed by a live attempt is retried later, once
  its outputs exist.
- Renditions live under one key per object, shared by its versions, so each is removed only while its
  `picops-source-version` metadata still names this version; JSON drop records only while their
  `picops_source` does (a conditional DeleteItem). Running it twice removes nothing more: idempotent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from picops.aws_errors import OBJECT_MISSING, code_of, is_conditional_failure, is_missing
from picops.core.ingest.drops import SOURCE_ATTRIBUTE
from picops.core.ingest.events import ObjectRef
from picops.core.ingest.jobs import Job, JobStore
from picops.core.ingest.pipeline import (
    SOURCE_VERSION_META,
    IngestConfig,
    ObjectOutcome,
    Outcome,
    is_transient,
    kind_of,
)

_REWRITTEN = frozenset({"PreconditionFailed", "412"})


@dataclass(frozen=True)
class Removed:
    """What one removal deleted (keys of renditions, count of records) and what it left (and why)."""

    renditions: tuple[str, ...] = ()
    records: int = 0
    kept: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"renditions": list(self.renditions), "records": self.records, "kept": list(self.kept)}


@dataclass
class Removal:
    s3: Any
    dynamodb: Any
    config: IngestConfig
    jobs: JobStore = field(init=False)

    def __post_init__(self) -> None:
        self.jobs = JobStore(self.dynamodb, self.config.jobs_table)

    def remove(self, ref: ObjectRef) -> ObjectOutcome:
        skip = self.config.skip_reason(ref)
        if skip is not None:
            return ObjectOutcome(ref, Outcome.SKIPPED, reason=skip)
        kind = kind_of(ref.key)
        try:
            target = self.hidden_version(ref) if ref.delete_marker else ref
            if target is None:
                reason = "the delete marker hides no version (or was itself removed)"
                return ObjectOutcome(ref, Outcome.SKIPPED, kind=kind, reason=reason)
            free, job = self.jobs.mark_deleted(target, sequencer=ref.sequencer)
            if not free:
                reason = "an attempt still processes this version"
                return ObjectOutcome(target, Outcome.BUSY, kind=kind, reason=reason)
            removed = self.remove_outputs(target, job)
        except botocore.exceptions.ClientError as exc:
            outcome = Outcome.RETRY if is_transient(exc) else Outcome.FAILED
            reason = f"{exc.operation_name}: {code_of(exc)}"
            return ObjectOutcome(ref, outcome, kind=kind, reason=reason)
        return ObjectOutcome(target, Outcome.DELETED, kind=kind, outputs=removed.as_dict())

    def hidden_version(self, marker: ObjectRef) -> ObjectRef | None:
        """The version a delete marker hides: the key's newest version not newer than the marker."""
        paginator = self.s3.get_paginator("list_object_versions")
        versions: list[dict[str, Any]] = []
        marked: dict[str, Any] | None = None
        for page in paginator.paginate(Bucket=marker.bucket, Prefix=marker.key):
            versions += [v for v in page.get("Versions", []) if v["Key"] == marker.key]
            for m in page.get("DeleteMarkers", []):
                if m["Key"] == marker.key and m.get("VersionId") == marker.version_id:
                    marked = m
        if marked is None:
            return None
        older = [v for v in versions if v["LastModified"] <= marked["LastModified"]]
        if not older:
            return None
        newest = max(older, key=lambda v: v["LastModified"])
        return dataclasses.replace(marker, version_id=str(newest["VersionId"]), etag=newest.get("ETag"))

    def remove_outputs(self, ref: ObjectRef, job: Job | None) -> Removed:
        if job is None:
            return Removed()
        label = ref.version_label
        gone: list[str] = []
        kept: list[str] = []
        for key in rendition_keys(job):
            if self._delete_rendition(key, label):
                gone.append(key)
            else:
                kept.append(key)
        source = f"{ref.bucket}/{ref.key}#{label}"
        records = sum(self._delete_record(pk, sk, source) for pk, sk in job.records or ())
        return Removed(tuple(gone), records, tuple(kept))

    def _delete_rendition(self, key: str, label: str) -> bool:
        """Delete `key` if this version made it; False when it is gone or a newer version's."""
        bucket = self.config.processed_bucket
        try:
            head = self.s3.head_object(Bucket=bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            if is_missing(exc, OBJECT_MISSING) or is_missing(exc):
                return False
            raise
        if (head.get("Metadata") or {}).get(SOURCE_VERSION_META) != label:
            return False
        try:
            # Conditional on what was read: a newer version that rewrote the rendition since keeps it.
            self.s3.delete_object(Bucket=bucket, Key=key, IfMatch=head["ETag"])
        except botocore.exceptions.ClientError as exc:
            if code_of(exc) in _REWRITTEN or is_missing(exc):
                return False
            raise
        return True

    def _delete_record(self, pk: str, sk: str, source: str) -> int:
        try:
            self.dynamodb.delete_item(
                TableName=self.config.jobs_table,
                Key={"pk": {"S": pk}, "sk": {"S": sk}},
                ConditionExpression="#source = :source",
                ExpressionAttributeNames={"#source": SOURCE_ATTRIBUTE},
                ExpressionAttributeValues={":source": {"S": source}},
            )
        except botocore.exceptions.ClientError as exc:
            if is_conditional_failure(exc):
                return 0  # gone already, or a later drop's record with the same id
            raise
        return 1


def rendition_keys(job: Job) -> Iterable[str]:
    """The output keys a job lists: every rendition, or the single thumbnail of jobs made before sets."""
    if job.renditions:
        return [str(r["key"]) for r in job.renditions if r.get("key")]
    if job.kind == "image" and isinstance(job.outputs, str) and job.outputs:
        return [job.outputs]
    return []
