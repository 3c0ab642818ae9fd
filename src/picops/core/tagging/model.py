"""The engine's vocabulary: candidate objects, per-object outcomes and running counts."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Candidate:
    """One object to consider. `stream`/`cursor` say where it came from, so progress can be checkpointed:
    `cursor` is the position in `stream` just after this object (a key for listings, a row count for
    inventory files)."""

    bucket: str
    key: str
    version_id: str | None = None
    stream: str = "main"
    cursor: Any = None


@dataclass(frozen=True, slots=True)
class StreamDone:
    """A source's stream has no more candidates (lets a checkpoint record it as finished)."""

    stream: str


class Outcome(enum.StrEnum):
    TAGGED = "tagged"
    UNCHANGED = "unchanged"
    PENDING = "pending"
    MISSING = "missing"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ObjectResult:
    """What happened to one object. `transient` marks failures worth retrying later (throttling, 5xx)."""

    bucket: str
    key: str
    version_id: str | None
    outcome: Outcome
    old: str | None = None
    new: str | None = None
    error: str | None = None
    transient: bool = False


OUTCOME_FIELDS: tuple[str, ...] = tuple(o.value for o in Outcome)


@dataclass
class Counts:
    """Per-outcome totals plus `scanned` (every candidate considered)."""

    scanned: int = 0
    tagged: int = 0
    unchanged: int = 0
    pending: int = 0
    missing: int = 0
    failed: int = 0

    def add(self, outcome: Outcome, n: int = 1) -> None:
        self.scanned += n
        setattr(self, outcome.value, getattr(self, outcome.value) + n)

    def merge(self, other: Counts) -> None:
        for name in ("scanned", *OUTCOME_FIELDS):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in ("scanned", *OUTCOME_FIELDS)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Counts:
        return cls(**{name: int(raw.get(name, 0)) for name in ("scanned", *OUTCOME_FIELDS)})


@dataclass
class RunSummary:
    """The result of one engine run (or one resumed job), in the shape `tag-backfill --json` prints."""

    source: str
    counts: Counts = field(default_factory=Counts)
    requests: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    complete: bool = True

    def as_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"source": self.source}
        doc.update(self.counts.as_dict())
        doc["requests"] = {
            name: int(self.requests.get(name, 0))
            for name in ("ListObjectsV2", "BatchGetItem", "GetObjectTagging", "PutObjectTagging")
        }
        doc["elapsed_s"] = round(self.elapsed_s, 3)
        return doc
