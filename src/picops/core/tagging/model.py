"""The engine's vocabulary: candidate objects, per-object outcomes and running counts."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Candidate:
    """One object to consider. `stream`/`cursor` say where it came from, so progress can be checkpointed:
    `cursor` is the position in `stream` just after this object (a key for listings, a row count for
    inventory files). `etag` and `last_modified` (normalised, see `ledger`) are the identity the source
    reported, when it reported one: what the tag ledger compares."""

    bucket: str
    key: str
    version_id: str | None = None
    stream: str = "main"
    cursor: Any = None
    etag: str | None = None
    last_modified: str | None = None


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
    """What happened to one object. `transient` marks failures worth retrying later (throttling, 5xx);
    `by_ledger` an `unchanged` object skipped without an S3 request because the tag ledger vouched for it."""

    bucket: str
    key: str
    version_id: str | None
    outcome: Outcome
    old: str | None = None
    new: str | None = None
    error: str | None = None
    transient: bool = False
    by_ledger: bool = False


OUTCOME_FIELDS: tuple[str, ...] = tuple(o.value for o in Outcome)
# Count fields: `scanned`, one per outcome, and `skipped_by_ledger` (a subset of `unchanged`). Checkpoints
# written before a field existed read it as 0.
COUNT_FIELDS: tuple[str, ...] = ("scanned", *OUTCOME_FIELDS, "skipped_by_ledger")


@dataclass
class Counts:
    """Per-outcome totals plus `scanned` (every candidate considered) and `skipped_by_ledger` (the
    `unchanged` objects that cost no S3 request)."""

    scanned: int = 0
    tagged: int = 0
    unchanged: int = 0
    pending: int = 0
    missing: int = 0
    failed: int = 0
    skipped_by_ledger: int = 0

    def add(self, outcome: Outcome, n: int = 1, *, by_ledger: bool = False) -> None:
        self.scanned += n
        setattr(self, outcome.value, getattr(self, outcome.value) + n)
        if by_ledger:
            self.skipped_by_ledger += n

    def merge(self, other: Counts) -> None:
        for name in COUNT_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNT_FIELDS}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Counts:
        return cls(**{name: int(raw.get(name, 0)) for name in COUNT_FIELDS})


@dataclass
class RunSummary:
    """The result of one engine run (or one resumed job), in the shape `tag-backfill --json` prints."""

    source: str
    counts: Counts = field(default_factory=Counts)
    requests: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    complete: bool = True
    # What the tag ledger did in this invocation (LedgerStats.as_dict()); None when it was not used.
    ledger: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"source": self.source}
        doc.update(self.counts.as_dict())
        doc["requests"] = {
            name: int(self.requests.get(name, 0))
            for name in (
                "ListObjectsV2",
                "BatchGetItem",
                "GetObjectTagging",
                "PutObjectTagging",
                "BatchWriteItem",
            )
        }
        doc["ledger"] = self.ledger
        doc["elapsed_s"] = round(self.elapsed_s, 3)
        return doc
