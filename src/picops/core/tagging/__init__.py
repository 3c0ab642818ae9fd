"""The moderation tagging engine: verdict lookup, merge-safe tagging, checkpointed runs.

One engine serves the stream Lambda, the hourly sweeper, the S3 Batch Operations Lambda and
`picops tag-backfill`.

The names load lazily (PEP 562): a Lambda that imports the engine does not load the backfill, its
checkpoints (and the configuration) or the S3 Batch Operations set-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from picops.core.tagging import batch_ops
    from picops.core.tagging.backfill import BackfillJob, BackfillRun, bucket_object_count, run_backfill
    from picops.core.tagging.batch_ops import BatchJobRequest
    from picops.core.tagging.checkpoint import default_state_path, load_state
    from picops.core.tagging.engine import EngineOptions, RunEnd, TaggingEngine
    from picops.core.tagging.ledger import (
        LEDGER_PREFIX,
        LEDGER_SK,
        Ledger,
        LedgerEntry,
        LedgerStats,
        in_verify_slice,
        ledger_pk,
        verify_slices,
        with_identity,
    )
    from picops.core.tagging.merge import MergeDecision, merge_tags, remove_tag, tag_value_problem
    from picops.core.tagging.model import Candidate, Counts, ObjectResult, Outcome, RunSummary, StreamDone
    from picops.core.tagging.requests import RequestCounter
    from picops.core.tagging.sweep import SweepResult, run_sweep
    from picops.core.tagging.tracker import Tracker
    from picops.core.tagging.verdicts import VerdictLookup

# name -> the module that defines it (or, for a submodule, the submodule itself)
_HOMES: dict[str, str] = {
    "BackfillJob": "picops.core.tagging.backfill",
    "BackfillRun": "picops.core.tagging.backfill",
    "BatchJobRequest": "picops.core.tagging.batch_ops",
    "Candidate": "picops.core.tagging.model",
    "Counts": "picops.core.tagging.model",
    "EngineOptions": "picops.core.tagging.engine",
    "LEDGER_PREFIX": "picops.core.tagging.ledger",
    "LEDGER_SK": "picops.core.tagging.ledger",
    "Ledger": "picops.core.tagging.ledger",
    "LedgerEntry": "picops.core.tagging.ledger",
    "LedgerStats": "picops.core.tagging.ledger",
    "MergeDecision": "picops.core.tagging.merge",
    "ObjectResult": "picops.core.tagging.model",
    "Outcome": "picops.core.tagging.model",
    "RequestCounter": "picops.core.tagging.requests",
    "RunEnd": "picops.core.tagging.engine",
    "RunSummary": "picops.core.tagging.model",
    "StreamDone": "picops.core.tagging.model",
    "SweepResult": "picops.core.tagging.sweep",
    "TaggingEngine": "picops.core.tagging.engine",
    "Tracker": "picops.core.tagging.tracker",
    "VerdictLookup": "picops.core.tagging.verdicts",
    "batch_ops": "picops.core.tagging.batch_ops",
    "bucket_object_count": "picops.core.tagging.backfill",
    "default_state_path": "picops.core.tagging.checkpoint",
    "in_verify_slice": "picops.core.tagging.ledger",
    "ledger_pk": "picops.core.tagging.ledger",
    "load_state": "picops.core.tagging.checkpoint",
    "merge_tags": "picops.core.tagging.merge",
    "remove_tag": "picops.core.tagging.merge",
    "run_backfill": "picops.core.tagging.backfill",
    "run_sweep": "picops.core.tagging.sweep",
    "tag_value_problem": "picops.core.tagging.merge",
    "verify_slices": "picops.core.tagging.ledger",
    "with_identity": "picops.core.tagging.ledger",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(home)
    value = module if home == f"{__name__}.{name}" else getattr(module, name)
    globals()[name] = value  # later lookups skip this function
    return value


__all__ = [
    "LEDGER_PREFIX",
    "LEDGER_SK",
    "BackfillJob",
    "BackfillRun",
    "BatchJobRequest",
    "Candidate",
    "Counts",
    "EngineOptions",
    "Ledger",
    "LedgerEntry",
    "LedgerStats",
    "MergeDecision",
    "ObjectResult",
    "Outcome",
    "RequestCounter",
    "RunEnd",
    "RunSummary",
    "StreamDone",
    "SweepResult",
    "TaggingEngine",
    "Tracker",
    "VerdictLookup",
    "batch_ops",
    "bucket_object_count",
    "default_state_path",
    "in_verify_slice",
    "ledger_pk",
    "load_state",
    "merge_tags",
    "remove_tag",
    "run_backfill",
    "run_sweep",
    "tag_value_problem",
    "verify_slices",
    "with_identity",
]
