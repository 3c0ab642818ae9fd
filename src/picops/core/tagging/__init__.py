"""The moderation tagging engine: verdict lookup, merge-safe tagging, checkpointed runs.

One engine serves the stream Lambda, the hourly sweeper, the S3 Batch Operations Lambda and
`picops tag-backfill`.
"""

from picops.core.tagging.engine import EngineOptions, RunEnd, TaggingEngine
from picops.core.tagging.merge import MergeDecision, merge_tags, remove_tag, tag_value_problem
from picops.core.tagging.model import Candidate, Counts, ObjectResult, Outcome, RunSummary, StreamDone
from picops.core.tagging.requests import RequestCounter
from picops.core.tagging.tracker import Tracker
from picops.core.tagging.verdicts import VerdictLookup

__all__ = [
    "Candidate",
    "Counts",
    "EngineOptions",
    "MergeDecision",
    "ObjectResult",
    "Outcome",
    "RequestCounter",
    "RunEnd",
    "RunSummary",
    "StreamDone",
    "TaggingEngine",
    "Tracker",
    "VerdictLookup",
    "merge_tags",
    "remove_tag",
    "tag_value_problem",
]
