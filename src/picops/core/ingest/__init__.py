"""Ingest: thumbnails and JSON drops from UploadsBucket, exactly once in effect, with job records and
notifications (behaviour in docs/ingest.md).

The package's names load lazily (PEP 562): `from picops.core.ingest import make_thumbnail` imports the
thumbnail module alone, not the pipeline, boto3 and the configuration, and a Lambda loads only what its
path needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from picops import lazy

if TYPE_CHECKING:
    from picops.core.ingest.jobs import Job, JobStore
    from picops.core.ingest.pipeline import thumbnail_key
    from picops.core.ingest.reprocess import parse_since, reprocess
    from picops.core.ingest.thumbnails import REDUCING_GAP, make_thumbnail

# name -> (the module that defines it, its name there); only what other layers use is exported
_HOMES: lazy.Homes = {
    "Job": ("picops.core.ingest.jobs", "Job"),
    "JobStore": ("picops.core.ingest.jobs", "JobStore"),
    "make_thumbnail": ("picops.core.ingest.thumbnails", "make_thumbnail"),
    "parse_since": ("picops.core.ingest.reprocess", "parse_since"),
    "reprocess": ("picops.core.ingest.reprocess", "reprocess"),
    "REDUCING_GAP": ("picops.core.ingest.thumbnails", "REDUCING_GAP"),
    "thumbnail_key": ("picops.core.ingest.pipeline", "thumbnail_key"),
}


__getattr__ = lazy.exports(__name__, _HOMES)


__all__ = [
    "REDUCING_GAP",
    "Job",
    "JobStore",
    "make_thumbnail",
    "parse_since",
    "reprocess",
    "thumbnail_key",
]
