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
    from picops.core.ingest.jobs import Job, JobStore
    from picops.core.ingest.pipeline import thumbnail_key
    from picops.core.ingest.reprocess import parse_since
    from picops.core.ingest.thumbnails import REDUCING_GAP, make_thumbnail

# name -> (the module that defines it, its name there); only what other layers use is exported
_HOMES: dict[str, tuple[str, str]] = {
    "Job": ("picops.core.ingest.jobs", "Job"),
    "JobStore": ("picops.core.ingest.jobs", "JobStore"),
    "make_thumbnail": ("picops.core.ingest.thumbnails", "make_thumbnail"),
    "parse_since": ("picops.core.ingest.reprocess", "parse_since"),
    "REDUCING_GAP": ("picops.core.ingest.thumbnails", "REDUCING_GAP"),
    "thumbnail_key": ("picops.core.ingest.pipeline", "thumbnail_key"),
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, attribute = home
    if module_name == __name__:  # a submodule, exported whole
        value = importlib.import_module(f"{__name__}.{attribute}")
    else:
        value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value  # later lookups skip this function
    return value


__all__ = [
    "REDUCING_GAP",
    "Job",
    "JobStore",
    "make_thumbnail",
    "parse_since",
    "thumbnail_key",
]
