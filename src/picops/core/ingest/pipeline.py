"""One object version through the ingest pipeline: filter, fetch, claim, thumbnail or store, record, notify.

Order of the AWS calls per new object (the requests-per-object figure of bench/ingest.py): GetObject (its
headers give the size and picops's own output marker before the body is read), the claim (UpdateItem), the
work (PutObject of the thumbnail, or BatchWriteItem of the records), Publish, and the outcome with the
`notified` mark (one UpdateItem): five for an image. A duplicate costs the GetObject and a failed claim (the
refusal carries the job).

Failure policy (docs/ingest.md): an error worth retrying (`picops.aws_errors.is_transient`: throttling, 5xx,
timeouts, connection errors) leaves the job unfinished, releases the lease and reports `retry`: the handler
puts that message in batchItemFailures. Every other AWS error, content that can never work and every AWS
limit the object would pass finish the job FAILED with the reason (an AWS error as operation, code and
message) and send a `failed` notification: the message is acknowledged, nothing loops. Only an error
writing the job record itself cannot be recorded there, so it is retried (and lands in IngestDLQ if the
set-up stays broken).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import botocore.exceptions

from picops import aws_errors
from picops.aws_errors import OBJECT_MISSING, code_of, message_of
from picops.core.ingest.drops import DropRejected, UnprocessedItems, parse_drop, write_items
from picops.core.ingest.events import ObjectRef, sequencer_after
from picops.core.ingest.jobs import DELETED, FAILED, FINISHED, PROCESSED, Claim, Job, JobStore
from picops.core.ingest.limits import S3_KEY_BYTES, S3_METADATA_BYTES, digest, metadata_bytes, utf8_len
from picops.core.ingest.notify import publish
from picops.core.ingest.renditions import (
    Rendition,
    default_renditions,
    job_fields,
    make_renditions,
    renditions_from,
    store,
)
from picops.core.ingest.thumbnails import ImageRejected
from picops.stack.state_objects import INGEST_OUTPUT_PREFIX, RESERVED_PREFIX

if TYPE_CHECKING:
    from picops.config import IngestSettings
    from picops.stack.names import StackNames

THUMBNAIL_PREFIX = INGEST_OUTPUT_PREFIX
# Object metadata on every output: the loop guard skips objects that carry it.
SOURCE_KEY_META = "picops-source-key"
SOURCE_BUCKET_META = "picops-source-bucket"
SOURCE_VERSION_META = "picops-source-version"

# Deleted before processing (a delete marker answers GET with MethodNotAllowed): permanent, never retried.
_GONE_CODES = OBJECT_MISSING
_REPLACED_CODES = frozenset({"PreconditionFailed", "412"})
# Publishing before the outcome's write needs this much of the lease left: nobody can take the version over
# before that write lands (the handler's lease outlasts the invocation by 5 s).
PUBLISH_MARGIN_S = 5.0


def thumbnail_key(key: str) -> str:
    return f"{THUMBNAIL_PREFIX}{key}.jpg"


def kind_of(key: str) -> str:
    return "json" if key.lower().endswith(".json") else "image"


class Outcome(enum.StrEnum):
    PROCESSED = "processed"
    FAILED = "failed"
    DUPLICATE = "duplicate"  # already finished and notified: nothing done
    RENOTIFIED = "renotified"  # already finished, the notification was missing: published it
    SKIPPED = "skipped"  # not ours (bucket, prefix, suffix, reserved prefix, picops output)
    BUSY = "busy"  # another attempt holds a live lease: retry later
    SUPERSEDED = "superseded"  # our lease expired and another attempt took over
    RETRY = "retry"  # transient error
    DELETED = "deleted"  # the original was deleted: its outputs removed, the job marked DELETED


@dataclass(frozen=True)
class ObjectOutcome:
    ref: ObjectRef
    outcome: Outcome
    kind: str | None = None
    reason: str | None = None
    outputs: Any = None
    thumbnail_ms: float | None = None

    @property
    def transient(self) -> bool:
        return self.outcome in (Outcome.BUSY, Outcome.RETRY)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.ref.as_dict(),
            "outcome": self.outcome.value,
            "kind": self.kind,
            "reason": self.reason,
            "outputs": self.outputs,
        }


@dataclass(frozen=True)
class IngestConfig:
    uploads_bucket: str
    processed_bucket: str
    jobs_table: str
    topic_arn: str
    prefix: str = "incoming/"
    suffixes: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".json")
    thumbnail_size: int = 256
    thumbnail_quality: int = 85
    max_pixels: int = 50_000_000
    max_bytes: int = 50 * 1024 * 1024
    max_json_bytes: int = 1024 * 1024
    renditions: tuple[Rendition, ...] = ()  # empty: the single thumbnail (thumbnail_size, thumbnail_quality)

    def rendition_set(self) -> tuple[Rendition, ...]:
        return self.renditions or default_renditions(self.thumbnail_size, self.thumbnail_quality)

    @classmethod
    def from_settings(cls, ingest: IngestSettings, names: StackNames) -> IngestConfig:
        return cls(
            uploads_bucket=names.uploads_bucket,
            processed_bucket=names.processed_bucket,
            jobs_table=names.physical("JobsTable"),
            topic_arn=names.arn("NotifyTopic"),
            prefix=ingest.prefix,
            suffixes=tuple(ingest.suffixes),
            thumbnail_size=ingest.thumbnail_size,
            thumbnail_quality=ingest.thumbnail_quality,
            max_pixels=ingest.max_pixels,
            max_bytes=ingest.max_bytes,
            max_json_bytes=ingest.max_json_bytes,
            renditions=renditions_from(ingest),
        )

    def skip_reason(self, ref: ObjectRef) -> str | None:
        """Why this object is not ingested (None: it is)."""
        if ref.bucket != self.uploads_bucket:
            return f"bucket {ref.bucket} is not UploadsBucket ({self.uploads_bucket})"
        if ref.key.startswith(RESERVED_PREFIX):
            return f"{ref.key} is under picops's reserved prefix {RESERVED_PREFIX}"
        if not ref.key.startswith(self.prefix):
            return f"{ref.key} is not under [ingest] prefix {self.prefix!r}"
        if not any(ref.key.endswith(s) for s in self.suffixes):
            return f"{ref.key} has none of the [ingest] suffixes {', '.join(self.suffixes)}"
        return None


def output_metadata(ref: ObjectRef) -> dict[str, str]:
    """The thumbnail's metadata: where it came from, and the loop guard's marker.

    Metadata is ASCII on the wire, so the key is percent-encoded (unquote() gives it back); a non-ASCII key
    triples in size that way and can pass S3's 2 KB user-metadata limit. Such a key is carried by the job
    record only, and the metadata holds `sha256:<hex digest of the key>` (a percent-encoded key never
    contains `:`, so the two forms cannot be confused)."""
    metadata = {
        SOURCE_BUCKET_META: ref.bucket,
        SOURCE_KEY_META: quote(ref.key, safe="/"),
        SOURCE_VERSION_META: ref.version_label,
    }
    if metadata_bytes(metadata) > S3_METADATA_BYTES:
        metadata[SOURCE_KEY_META] = f"sha256:{digest(ref.key)}"
    size = metadata_bytes(metadata)
    if size > S3_METADATA_BYTES:
        raise Permanent(
            f"thumbnail metadata would be {size:,} bytes, over S3's {S3_METADATA_BYTES:,}-byte user "
            "metadata limit"
        )
    return metadata


class Permanent(Exception):
    """The object can never be ingested: the job fails with this reason."""


def is_transient(exc: BaseException) -> bool:
    """Worth retrying the message: what aws_errors calls transient, or DynamoDB holding back items."""
    return aws_errors.is_transient(exc) or isinstance(exc, UnprocessedItems)


def is_permanent_aws_error(exc: BaseException) -> bool:
    """An AWS error that answers the same on every retry (access denied, validation, a missing resource)."""
    return isinstance(exc, botocore.exceptions.ClientError) and not is_transient(exc)


@dataclass
class IngestPipeline:
    s3: Any
    dynamodb: Any
    sns: Any
    config: IngestConfig
    jobs: JobStore = field(init=False)

    def __post_init__(self) -> None:
        self.jobs = JobStore(self.dynamodb, self.config.jobs_table)

    def process(
        self, ref: ObjectRef, *, lease_s: float, token: str | None = None, force: bool = False
    ) -> ObjectOutcome:
        skip = self.config.skip_reason(ref)
        if skip is not None:
            return ObjectOutcome(ref, Outcome.SKIPPED, reason=skip)
        kind = kind_of(ref.key)
        try:
            return self._process(ref, kind, lease_s=lease_s, token=token, force=force)
        except Exception as exc:
            if is_transient(exc):
                return ObjectOutcome(ref, Outcome.RETRY, kind=kind, reason=_describe(exc))
            if is_permanent_aws_error(exc):
                # Only the job record's own writes (claim, finish) or the notification get here: a failure
                # that cannot be recorded as FAILED is retried, and lands in IngestDLQ if it persists.
                reason = f"cannot record the outcome: {_describe(exc)}"
                return ObjectOutcome(ref, Outcome.RETRY, kind=kind, reason=reason)
            raise

    def _process(
        self, ref: ObjectRef, kind: str, *, lease_s: float, token: str | None, force: bool
    ) -> ObjectOutcome:
        obj, gone = self._get(ref)
        if obj is not None and not ref.version_id and obj.get("VersionId") not in (None, "", "null"):
            # A notification without a version id (foreign senders, emulators) for a versioned bucket: the
            # version the ETag-matched GET returned names the job, as S3's own notifications would.
            ref = dataclasses.replace(ref, version_id=str(obj["VersionId"]))
        try:
            if obj is not None and SOURCE_KEY_META in (obj.get("Metadata") or {}):
                return ObjectOutcome(ref, Outcome.SKIPPED, kind=kind, reason="object is a picops output")
            claim = self.jobs.claim(ref, kind, lease_s=lease_s, token=token, force=force)
            if not claim.acquired and _created_after_removal(ref, claim.job):
                assert claim.job is not None
                seen = claim.job.removed_sequencer
                claim = self.jobs.claim(
                    ref, kind, lease_s=lease_s, token=token, force=force, deleted_seen=seen
                )
            if not claim.acquired:
                return self._not_acquired(ref, kind, claim.job)
            assert claim.claim is not None
            try:
                outputs, extra, millis = self._work(ref, kind, obj, gone)
            except Permanent as exc:
                return self._finish(ref, claim, kind, FAILED, reason=str(exc))
            except Exception as exc:
                if is_permanent_aws_error(exc):
                    return self._finish(ref, claim, kind, FAILED, reason=_describe(exc))
                self._release(ref, claim.claim)
                raise
            return self._finish(
                ref, claim, kind, PROCESSED, outputs=outputs, extra=extra, thumbnail_ms=millis
            )
        finally:
            if obj is not None:
                obj["Body"].close()

    def _get(self, ref: ObjectRef) -> tuple[dict[str, Any] | None, str | None]:
        """The object's GET response (body not read yet), or why it is gone."""
        size = utf8_len(ref.key)
        if size > S3_KEY_BYTES:
            return None, f"object key is {size:,} bytes, over S3's {S3_KEY_BYTES:,}-byte key limit"
        params: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
        if ref.version_id and ref.version_id != "null":
            params["VersionId"] = ref.version_id
        elif ref.etag:
            params["IfMatch"] = ref.etag if ref.etag.startswith('"') else f'"{ref.etag}"'
        try:
            return self.s3.get_object(**params), None
        except botocore.exceptions.ClientError as exc:
            code = code_of(exc)
            if code in _GONE_CODES:
                return None, "object deleted before processing"
            if code in _REPLACED_CODES:
                return None, "object was overwritten before processing (its new version is ingested)"
            if is_permanent_aws_error(exc):
                return None, _describe(exc)
            raise

    def _not_acquired(self, ref: ObjectRef, kind: str, job: Job | None) -> ObjectOutcome:
        if job is None:
            return ObjectOutcome(ref, Outcome.BUSY, kind=kind, reason="job item vanished during the claim")
        if job.status == DELETED:
            # Deleted before (or while) this creation was delivered: S3 ordered the removal later.
            return ObjectOutcome(ref, Outcome.SKIPPED, kind=job.kind, reason="the original was deleted")
        if job.status in FINISHED:
            if job.notified is None:
                # The previous attempt recorded the outcome but did not get to publish it.
                publish(self.sns, self.config.topic_arn, job)
                self.jobs.mark_notified(job)
                return ObjectOutcome(
                    ref, Outcome.RENOTIFIED, kind=job.kind, reason=job.reason, outputs=job.outputs
                )
            return ObjectOutcome(
                ref, Outcome.DUPLICATE, kind=job.kind, reason=f"already {job.status}", outputs=job.outputs
            )
        return ObjectOutcome(ref, Outcome.BUSY, kind=kind, reason="another attempt holds the claim")

    def _work(
        self, ref: ObjectRef, kind: str, obj: dict[str, Any] | None, gone: str | None
    ) -> tuple[Any, dict[str, Any], float | None]:
        if obj is None:
            raise Permanent(gone or "object deleted before processing")
        size = int(obj.get("ContentLength") or ref.size or 0)
        limit = self.config.max_json_bytes if kind == "json" else self.config.max_bytes
        if size > limit:
            setting = "max_json_bytes" if kind == "json" else "max_bytes"
            raise Permanent(f"object is {size:,} bytes, over [ingest] {setting} {limit:,}")
        if kind == "json":
            return self._store_drop(ref, obj["Body"].read())
        renditions = self.config.rendition_set()
        for rendition in renditions:
            target_bytes = utf8_len(rendition.key(ref.key))
            if target_bytes > S3_KEY_BYTES:
                raise Permanent(
                    f"thumbnail key {rendition.key('<key>')} would be {target_bytes:,} bytes, over S3's "
                    f"{S3_KEY_BYTES:,}-byte key limit"
                )
        metadata = output_metadata(ref)
        data = obj["Body"].read()
        try:
            rendered = make_renditions(data, renditions, max_pixels=self.config.max_pixels)
        except ImageRejected as exc:
            raise Permanent(str(exc)) from None
        del data
        listed = store(self.s3, self.config.processed_bucket, rendered, ref.key, metadata)
        return listed[0]["key"], job_fields(rendered, listed), rendered.milliseconds

    def _store_drop(self, ref: ObjectRef, data: bytes) -> tuple[Any, dict[str, Any], float | None]:
        try:
            drop = parse_drop(
                data,
                key=ref.key,
                source=f"{ref.bucket}/{ref.key}#{ref.version_label}",
                max_bytes=self.config.max_json_bytes,
            )
        except DropRejected as exc:
            raise Permanent(str(exc)) from None
        write_items(self.dynamodb, self.config.jobs_table, drop.items)
        return drop.count, record_keys(drop.items), None

    def _finish(
        self,
        ref: ObjectRef,
        claim: Claim,
        kind: str,
        status: str,
        *,
        outputs: Any = None,
        reason: str | None = None,
        extra: dict[str, Any] | None = None,
        thumbnail_ms: float | None = None,
    ) -> ObjectOutcome:
        assert claim.claim is not None
        outcome = Outcome.PROCESSED if status == PROCESSED else Outcome.FAILED
        done = ObjectOutcome(
            ref, outcome, kind=kind, reason=reason, outputs=outputs, thumbnail_ms=thumbnail_ms
        )
        moment = dt.datetime.now(dt.UTC)
        if claim.item is None or not _lease_covers(claim.item, moment):
            job = self._record(ref, claim.claim, status, outputs, reason, extra, moment, notified=False)
            if job is None:
                return ObjectOutcome(ref, Outcome.SUPERSEDED, kind=kind, reason="another attempt took over")
            publish(self.sns, self.config.topic_arn, job)
            self.jobs.mark_notified(job)
            return done
        # Publish first, then the outcome and the `notified` mark in one conditional write. The live lease
        # keeps every other attempt out meanwhile; a crash before that write leaves the job IN_PROGRESS, and
        # the retry after the lease takes it over and publishes again (docs/ingest.md, "Guarantees").
        job = JobStore.finished(
            claim.item, status=status, outputs=outputs, reason=reason, extra=extra, now=moment
        )
        try:
            publish(self.sns, self.config.topic_arn, job)
        except Exception:
            # Not published: record the outcome alone, so the retry publishes it without redoing the work.
            self._record(ref, claim.claim, status, outputs, reason, extra, moment, notified=False)
            raise
        if self._record(ref, claim.claim, status, outputs, reason, extra, moment, notified=True) is None:
            return ObjectOutcome(ref, Outcome.SUPERSEDED, kind=kind, reason="another attempt took over")
        return done

    def _record(
        self,
        ref: ObjectRef,
        claim: str,
        status: str,
        outputs: Any,
        reason: str | None,
        extra: dict[str, Any] | None,
        moment: dt.datetime,
        *,
        notified: bool,
    ) -> Job | None:
        """The outcome's write; on an error the lease is given back for the retry."""
        try:
            return self.jobs.finish(
                ref,
                claim,
                status=status,
                outputs=outputs,
                reason=reason,
                extra=extra,
                notified=notified,
                now=moment,
            )
        except Exception:
            self._release(ref, claim)
            raise

    def _release(self, ref: ObjectRef, claim: str) -> None:
        """Give the lease back after a transient error, so the retry does not wait for it to expire."""
        with contextlib.suppress(Exception):  # the lease expires on its own
            self.jobs.release(ref, claim)


# The job item keeps a drop's record keys up to this size, so a deletion can remove them (DynamoDB items stop
# at 400 KB; a larger drop's records are found by `picops ingest gc`'s scan instead).
RECORD_KEYS_BYTES = 64 * 1024


def record_keys(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    keys = [[i["pk"]["S"], i["sk"]["S"]] for i in items]
    size = sum(utf8_len(str(pk)) + utf8_len(sk) + 8 for pk, sk in keys)
    return {"records": keys} if size <= RECORD_KEYS_BYTES else {}


def _lease_covers(claimed: dict[str, Any], moment: dt.datetime) -> bool:
    """Whether the claim's lease outlasts the publish and the write after it by PUBLISH_MARGIN_S."""
    lease_until = claimed.get("lease_until", {}).get("N")
    return lease_until is not None and float(lease_until) - moment.timestamp() >= PUBLISH_MARGIN_S


def _created_after_removal(ref: ObjectRef, job: Job | None) -> bool:
    """A creation S3 ordered after the version's removal (an unversioned key uploaded again)."""
    if job is None or job.status != DELETED or not job.removed_sequencer or not ref.sequencer:
        return False
    return sequencer_after(ref.sequencer, job.removed_sequencer)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return f"{exc.operation_name}: {code_of(exc)}: {message_of(exc)}"
    return f"{type(exc).__name__}: {exc}"
