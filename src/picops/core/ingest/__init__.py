"""Ingest: thumbnails and JSON drops from UploadsBucket, exactly once in effect, with job records and
notifications (behaviour in docs/ingest.md).

The package's names load lazily (PEP 562): `from picops.core.ingest import make_thumbnail` imports the
thumbnail module alone, not the pipeline, boto3 and the configuration, and a Lambda loads only what its
path needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from picops.core.ingest.drops import Drop, DropRejected, item_size, parse_drop, write_items
    from picops.core.ingest.events import (
        NotS3Notification,
        ObjectRef,
        ParsedBody,
        parse_body,
        s3_event_record,
    )
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

# name -> the module that defines it
_HOMES: dict[str, str] = {
    "Claim": "picops.core.ingest.jobs",
    "Drop": "picops.core.ingest.drops",
    "DropRejected": "picops.core.ingest.drops",
    "FAILED": "picops.core.ingest.jobs",
    "FORCE_ATTRIBUTE": "picops.core.ingest.reprocess",
    "FORMATS": "picops.core.ingest.thumbnails",
    "IN_PROGRESS": "picops.core.ingest.jobs",
    "ImageRejected": "picops.core.ingest.thumbnails",
    "IngestConfig": "picops.core.ingest.pipeline",
    "IngestPipeline": "picops.core.ingest.pipeline",
    "Job": "picops.core.ingest.jobs",
    "JobStore": "picops.core.ingest.jobs",
    "NotS3Notification": "picops.core.ingest.events",
    "ObjectOutcome": "picops.core.ingest.pipeline",
    "ObjectRef": "picops.core.ingest.events",
    "Outcome": "picops.core.ingest.pipeline",
    "PROCESSED": "picops.core.ingest.jobs",
    "ParsedBody": "picops.core.ingest.events",
    "REDUCING_GAP": "picops.core.ingest.thumbnails",
    "ReprocessItem": "picops.core.ingest.reprocess",
    "SOURCE_KEY_META": "picops.core.ingest.pipeline",
    "THUMBNAIL_PREFIX": "picops.core.ingest.pipeline",
    "TOKEN_ATTRIBUTE": "picops.core.ingest.reprocess",
    "Thumbnail": "picops.core.ingest.thumbnails",
    "current_version": "picops.core.ingest.reprocess",
    "is_transient": "picops.core.ingest.pipeline",
    "item_size": "picops.core.ingest.drops",
    "job_pk": "picops.core.ingest.jobs",
    "job_sk": "picops.core.ingest.jobs",
    "kind_of": "picops.core.ingest.pipeline",
    "make_thumbnail": "picops.core.ingest.thumbnails",
    "notification": "picops.core.ingest.notify",
    "parse_body": "picops.core.ingest.events",
    "parse_drop": "picops.core.ingest.drops",
    "parse_since": "picops.core.ingest.reprocess",
    "publish": "picops.core.ingest.notify",
    "reprocess": "picops.core.ingest.reprocess",
    "reprocess_message": "picops.core.ingest.reprocess",
    "s3_event_record": "picops.core.ingest.events",
    "thumbnail_key": "picops.core.ingest.pipeline",
    "write_items": "picops.core.ingest.drops",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(home)
    # Importing a submodule binds it on this package under its own name, which can be an exported name too
    # (`reprocess` the function lives in `reprocess` the module): bind every name that module exports, so
    # later lookups (which skip this function) find the function, not the module.
    for exported, where in _HOMES.items():
        if where == home:
            globals()[exported] = getattr(module, exported)
    return globals()[name]


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
