"""Ingest: thumbnails and JSON drops from UploadsBucket, exactly once in effect, with job records and
notifications (DESIGN.md sections 3 and 5; behaviour in docs/ingest.md)."""

from picops.core.ingest.drops import Drop, DropRejected, item_size, parse_drop, write_items
from picops.core.ingest.events import NotS3Notification, ObjectRef, ParsedBody, parse_body, s3_event_record
from picops.core.ingest.jobs import (
    FAILED,
    IN_PROGRESS,
    PROCESSED,
    Claim,
    Job,
    JobStore,
    job_pk,
    job_sk,
)
from picops.core.ingest.notify import notification, publish
from picops.core.ingest.pipeline import (
    SOURCE_KEY_META,
    THUMBNAIL_PREFIX,
    IngestConfig,
    IngestPipeline,
    ObjectOutcome,
    Outcome,
    is_transient,
    kind_of,
    thumbnail_key,
)
from picops.core.ingest.reprocess import (
    FORCE_ATTRIBUTE,
    TOKEN_ATTRIBUTE,
    ReprocessItem,
    current_version,
    parse_since,
    reprocess,
    reprocess_message,
)
from picops.core.ingest.thumbnails import FORMATS, REDUCING_GAP, ImageRejected, Thumbnail, make_thumbnail

__all__ = [
    "FAILED",
    "FORCE_ATTRIBUTE",
    "FORMATS",
    "IN_PROGRESS",
    "PROCESSED",
    "REDUCING_GAP",
    "SOURCE_KEY_META",
    "THUMBNAIL_PREFIX",
    "TOKEN_ATTRIBUTE",
    "Claim",
    "Drop",
    "DropRejected",
    "ImageRejected",
    "IngestConfig",
    "IngestPipeline",
    "Job",
    "JobStore",
    "NotS3Notification",
    "ObjectOutcome",
    "ObjectRef",
    "Outcome",
    "ParsedBody",
    "ReprocessItem",
    "Thumbnail",
    "current_version",
    "is_transient",
    "item_size",
    "job_pk",
    "job_sk",
    "kind_of",
    "make_thumbnail",
    "notification",
    "parse_body",
    "parse_drop",
    "parse_since",
    "publish",
    "reprocess",
    "reprocess_message",
    "s3_event_record",
    "thumbnail_key",
    "write_items",
]
