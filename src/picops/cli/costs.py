"""Cost estimates shown before work that AWS bills per request or per object (prices: docs/security.md).

List prices of us-east-1 as of 2026, in US dollars; other regions differ by a few percent. An estimate is an
order of magnitude for a person deciding whether to go ahead, not a bill: it counts requests only (no
storage, no Lambda duration, no data transfer) and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# S3 Batch Operations: per job, and per million objects processed.
BATCH_JOB_FEE = 0.25
BATCH_PER_MILLION_OBJECTS = 1.00
# S3 requests: PUT/COPY/POST/LIST per 1,000, and GET (and all others) per 1,000.
S3_PUT_PER_1000 = 0.005
S3_GET_PER_1000 = 0.0004
# Lambda requests per million (duration not included).
LAMBDA_PER_MILLION_REQUESTS = 0.20
# DynamoDB on-demand reads per million read request units (BatchGetItem: one per item up to 4 KB).
DYNAMODB_PER_MILLION_READS = 0.125
# SQS requests per million (standard; FIFO is 0.50).
SQS_PER_MILLION = 0.40
SQS_FIFO_PER_MILLION = 0.50


@dataclass(frozen=True)
class Estimate:
    """`count` items (or None when unknown), the items priced, and the total in US dollars."""

    what: str
    count: int | None
    usd: float | None
    items: dict[str, float] = field(default_factory=dict)
    basis: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "count": self.count,
            "usd": None if self.usd is None else round(self.usd, 4),
            "items": {k: round(v, 4) for k, v in self.items.items()},
            "basis": self.basis,
        }

    def line(self) -> str:
        if self.count is None or self.usd is None:
            return f"cost estimate: {self.what}: count unknown ({self.basis})"
        parts = ", ".join(f"{k} ${v:,.4f}" for k, v in self.items.items())
        return f"cost estimate: {self.count:,} {self.what} -> about ${self.usd:,.2f} ({parts}; {self.basis})"


def _total(items: dict[str, float]) -> float:
    return sum(items.values())


def batch_operations(objects: int) -> Estimate:
    """A tag-backfill S3 Batch Operations job: job fee, per-object fee, one Lambda request per object, and
    the tagger's GetObjectTagging + PutObjectTagging per object (an upper bound: unchanged tags are not
    written)."""
    items = {
        "job": BATCH_JOB_FEE,
        "objects": objects / 1e6 * BATCH_PER_MILLION_OBJECTS,
        "lambda requests": objects / 1e6 * LAMBDA_PER_MILLION_REQUESTS,
        "PUT tagging": objects / 1000 * S3_PUT_PER_1000,
        "GET tagging": objects / 1000 * S3_GET_PER_1000,
        "verdict reads": objects / 1e6 * DYNAMODB_PER_MILLION_READS,
    }
    return Estimate(
        "objects (S3 Batch Operations tasks)",
        objects,
        _total(items),
        items,
        "us-east-1 list prices, requests only, Lambda duration not included",
    )


def direct_backfill(objects: int | None, *, source: str, listing: bool) -> Estimate:
    """tag-backfill's direct engine: LIST pages (listing source), a verdict read, GetObjectTagging and at
    most one PutObjectTagging per object."""
    if objects is None:
        return Estimate("objects", None, None, {}, f"the number of objects in {source} is not known up front")
    items = {
        "PUT tagging": objects / 1000 * S3_PUT_PER_1000,
        "GET tagging": objects / 1000 * S3_GET_PER_1000,
        "verdict reads": objects / 1e6 * DYNAMODB_PER_MILLION_READS,
    }
    if listing:
        items["LIST"] = max(1, objects // 1000) / 1000 * S3_PUT_PER_1000
    return Estimate(
        "objects",
        objects,
        _total(items),
        items,
        f"count from {source}; us-east-1 list prices, an upper bound (unchanged tags are not written)",
    )


def sqs_redrive(messages: int, *, fifo: bool) -> Estimate:
    """Moving messages: a receive, a send and a delete per message at most (batches of 10 cost less)."""
    price = SQS_FIFO_PER_MILLION if fifo else SQS_PER_MILLION
    items = {"SQS requests": messages * 3 / 1e6 * price}
    return Estimate(
        "messages",
        messages,
        _total(items),
        items,
        "approximate visible count; receive + send + delete per message, us-east-1 list prices",
    )


__all__ = ["Estimate", "batch_operations", "direct_backfill", "sqs_redrive"]
