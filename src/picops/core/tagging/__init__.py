"""The moderation tagging engine: verdict lookup, merge-safe tagging, checkpointed runs.

One engine serves the stream Lambda, the hourly sweeper, the S3 Batch Operations Lambda and
`picops tag-backfill`.
"""

from picops.core.tagging import batch_ops
from picops.core.tagging.backfill import BackfillJob, BackfillRun, run_backfill
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
