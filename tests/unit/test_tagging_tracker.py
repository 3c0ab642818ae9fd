from __future__ import annotations

from picops.core.tagging.model import Counts, ObjectResult, Outcome
from picops.core.tagging.tracker import StreamPosition, Tracker


def _result(outcome: Outcome) -> ObjectResult:
    return ObjectResult("b", "k", None, outcome)


def test_position_only_moves_past_contiguously_finished_chunks() -> None:
    tracker = Tracker()
    first = tracker.open_chunk("s", 2, "k02")
    second = tracker.open_chunk("s", 1, "k03")
    tracker.record(second, _result(Outcome.TAGGED))
    positions, committed = tracker.snapshot()
    assert positions == {}  # the second chunk finished first: nothing is committed yet
    assert committed.scanned == 0
    tracker.record(first, _result(Outcome.PENDING))
    tracker.record(first, _result(Outcome.UNCHANGED))
    positions, committed = tracker.snapshot()
    assert positions == {"s": {"cursor": "k03", "done": False}}
    assert committed.as_dict() == {
        "scanned": 3,
        "tagged": 1,
        "unchanged": 1,
        "pending": 1,
        "missing": 0,
        "failed": 0,
        "skipped_by_ledger": 0,
    }


def test_streams_are_independent_and_done_is_recorded() -> None:
    tracker = Tracker({"a": StreamPosition("a0")}, Counts(scanned=5, pending=5))
    a = tracker.open_chunk("a", 1, "a1")
    tracker.open_chunk("b", 0, None, done=True)
    positions, committed = tracker.snapshot()
    assert positions["b"] == {"cursor": None, "done": True}
    assert positions["a"] == {"cursor": "a0", "done": False}
    tracker.record(a, _result(Outcome.MISSING))
    positions, committed = tracker.snapshot()
    assert positions["a"]["cursor"] == "a1"
    assert committed.scanned == 6
    assert tracker.display_counts().missing == 1
