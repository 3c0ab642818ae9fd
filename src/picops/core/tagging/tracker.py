"""Which work is finished, in source order, so a checkpoint never claims an object that is still in flight.

Candidates go to the worker pool in chunks (one BatchGetItem each) and finish out of order. Each stream's
chunks are kept in order; a stream's position only moves past a chunk once it and every chunk before it have
finished. Counts follow the same rule, so a resumed job's totals equal an uninterrupted run's.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from picops.core.tagging.model import Counts, ObjectResult


@dataclass
class StreamPosition:
    cursor: Any = None
    done: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"cursor": self.cursor, "done": self.done}


@dataclass
class _Chunk:
    stream: str
    remaining: int
    cursor: Any
    done: bool
    counts: Counts = field(default_factory=Counts)


class Tracker:
    def __init__(self, positions: dict[str, StreamPosition] | None = None, committed: Counts | None = None):
        self._lock = threading.Lock()
        self.positions: dict[str, StreamPosition] = dict(positions or {})
        self.committed = committed or Counts()
        # Everything recorded in this process, committed or not: what progress displays add on top of
        # the counts the job started from.
        self.live = Counts()
        self._start = Counts.from_dict(self.committed.as_dict())
        self._queues: dict[str, deque[_Chunk]] = {}

    def open_chunk(self, stream: str, size: int, cursor: Any, *, done: bool = False) -> _Chunk:
        chunk = _Chunk(stream, size, cursor, done)
        with self._lock:
            self._queues.setdefault(stream, deque()).append(chunk)
            if size == 0:
                self._advance(stream)
        return chunk

    def record(self, chunk: _Chunk, result: ObjectResult) -> None:
        with self._lock:
            self.live.add(result.outcome, by_ledger=result.by_ledger)
            chunk.counts.add(result.outcome, by_ledger=result.by_ledger)
            chunk.remaining -= 1
            if chunk.remaining == 0:
                self._advance(chunk.stream)

    def _advance(self, stream: str) -> None:
        queue = self._queues[stream]
        while queue and queue[0].remaining == 0:
            chunk = queue.popleft()
            position = self.positions.setdefault(stream, StreamPosition())
            if chunk.cursor is not None:
                position.cursor = chunk.cursor
            position.done = position.done or chunk.done
            self.committed.merge(chunk.counts)

    def snapshot(self) -> tuple[dict[str, dict[str, Any]], Counts]:
        with self._lock:
            positions = {name: pos.as_dict() for name, pos in self.positions.items()}
            return positions, Counts.from_dict(self.committed.as_dict())

    def display_counts(self) -> Counts:
        """Counts for progress: the job's starting totals plus everything done in this process."""
        with self._lock:
            total = Counts.from_dict(self._start.as_dict())
            total.merge(self.live)
            return total
