"""The moderation tagging engine: verdict lookup, merge-safe tagging, checkpointed runs.

One engine serves the stream Lambda, the hourly sweeper, the S3 Batch Operations Lambda and
`picops tag-backfill`.

The names load lazily (PEP 562): a Lambda that imports the engine does not load the backfill, its
checkpoints (and the configuration) or the S3 Batch Operations set-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from picops import lazy

if TYPE_CHECKING:
    from picops.core.tagging import batch_ops
    from picops.core.tagging.backfill import BackfillJob, BackfillRun, bucket_object_count, run_backfill
    from picops.core.tagging.checkpoint import default_state_path, load_state
    from picops.core.tagging.engine import EngineOptions, TaggingEngine
    from picops.core.tagging.ledger import Ledger, with_identity
    from picops.core.tagging.merge import merge_tags
    from picops.core.tagging.model import Candidate, Counts, ObjectResult, Outcome, RunSummary
    from picops.core.tagging.requests import RequestCounter
    from picops.core.tagging.sweep import run_sweep
    from picops.core.tagging.verdicts import VerdictLookup

# name -> (the module that defines it, its name there); only what other layers use is exported
_HOMES: lazy.Homes = {
    "BackfillJob": ("picops.core.tagging.backfill", "BackfillJob"),
    "BackfillRun": ("picops.core.tagging.backfill", "BackfillRun"),
    "batch_ops": ("picops.core.tagging", "batch_ops"),
    "bucket_object_count": ("picops.core.tagging.backfill", "bucket_object_count"),
    "Candidate": ("picops.core.tagging.model", "Candidate"),
    "Counts": ("picops.core.tagging.model", "Counts"),
    "default_state_path": ("picops.core.tagging.checkpoint", "default_state_path"),
    "EngineOptions": ("picops.core.tagging.engine", "EngineOptions"),
    "Ledger": ("picops.core.tagging.ledger", "Ledger"),
    "load_state": ("picops.core.tagging.checkpoint", "load_state"),
    "merge_tags": ("picops.core.tagging.merge", "merge_tags"),
    "ObjectResult": ("picops.core.tagging.model", "ObjectResult"),
    "Outcome": ("picops.core.tagging.model", "Outcome"),
    "RequestCounter": ("picops.core.tagging.requests", "RequestCounter"),
    "run_backfill": ("picops.core.tagging.backfill", "run_backfill"),
    "run_sweep": ("picops.core.tagging.sweep", "run_sweep"),
    "RunSummary": ("picops.core.tagging.model", "RunSummary"),
    "TaggingEngine": ("picops.core.tagging.engine", "TaggingEngine"),
    "VerdictLookup": ("picops.core.tagging.verdicts", "VerdictLookup"),
    "with_identity": ("picops.core.tagging.ledger", "with_identity"),
}


__getattr__ = lazy.exports(__name__, _HOMES)


__all__ = [
    "BackfillJob",
    "BackfillRun",
    "Candidate",
    "Counts",
    "EngineOptions",
    "Ledger",
    "ObjectResult",
    "Outcome",
    "RequestCounter",
    "RunSummary",
    "TaggingEngine",
    "VerdictLookup",
    "batch_ops",
    "bucket_object_count",
    "default_state_path",
    "load_state",
    "merge_tags",
    "run_backfill",
    "run_sweep",
    "with_identity",
]
