"""The hourly sweeper: the engine over UploadsBucket within one Lambda invocation, resumable across runs.

The continuation point (the last key whose whole chunk finished) is stored durably as a small JSON object
in UploadsBucket under the reserved prefix `_picops/` (listing.RESERVED_PREFIX), which the tag pass always
skips and which sits outside the ingest prefix, so it neither triggers ingest nor gets tagged. An S3 object
rather than a ModerationTable item because that table may belong to the vendor (`[moderation] external`),
and picops must never write to it. Each run lists from that point until the remaining time falls below the
margin; when the listing ends, the next run starts a new cycle from the beginning.

With the tag ledger (`ledger_table`, JobsTable), objects whose entry matches their verdict and listed identity
cost no S3 request; the objects in the cycle's verify slice (`verify_fraction`: a stable hash of the key picks
one of round(1/fraction) slices, and each cycle takes the next) are read on S3 whatever the ledger says, so a
tag removed or changed by hand is repaired within round(1/fraction) cycles (a day at the default 1/24 on a
bucket the hourly sweep gets round every run).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from picops.aws_errors import OBJECT_MISSING, is_missing
from picops.core.tagging.engine import EngineOptions, TaggingEngine
from picops.core.tagging.ledger import Ledger, LedgerStats, in_verify_slice, verify_slices
from picops.core.tagging.model import Counts, ObjectResult
from picops.core.tagging.sources import listing
from picops.core.tagging.tracker import StreamPosition, Tracker
from picops.core.tagging.verdicts import VerdictLookup
from picops.stack.state_objects import SWEEP_STATE_KEY


@dataclass
class Continuation:
    start_after: str | None = None
    cycle: int = 1
    cycles_completed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "start_after": self.start_after,
            "cycle": self.cycle,
            "cycles_completed": self.cycles_completed,
            "updated_at": time.time(),
        }


def load_continuation(s3: Any, bucket: str) -> Continuation:
    try:
        body = s3.get_object(Bucket=bucket, Key=SWEEP_STATE_KEY)["Body"].read()
    except botocore.exceptions.ClientError as exc:
        if is_missing(exc, OBJECT_MISSING):
            return Continuation()
        raise
    try:
        raw = json.loads(body)
        after = raw.get("start_after")
        return Continuation(
            str(after) if after else None, int(raw.get("cycle", 1)), int(raw.get("cycles_completed", 0))
        )
    except (ValueError, TypeError, AttributeError):
        # A damaged continuation only costs a fresh cycle: start over rather than fail every hour.
        return Continuation()


def save_continuation(s3: Any, bucket: str, continuation: Continuation) -> None:
    s3.put_object(
        Bucket=bucket,
        Key=SWEEP_STATE_KEY,
        Body=json.dumps(continuation.as_dict()).encode(),
        ContentType="application/json",
    )


@dataclass(frozen=True)
class SweepResult:
    counts: Counts
    start_after: str | None
    next_start_after: str | None
    cycle_complete: bool
    cycle: int
    # None when the sweep ran without a ledger.
    ledger: LedgerStats | None = None
    verify_slice: str | None = None
    # The run ended before it considered a single object because less than the margin was left (a function
    # timeout not above `sweep_margin_s`): not a clean run, though nothing failed.
    stopped_by_margin: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.counts.as_dict(),
            "start_after": self.start_after,
            "next_start_after": self.next_start_after,
            "cycle_complete": self.cycle_complete,
            "cycle": self.cycle,
            "ledger": self.ledger.as_dict() if self.ledger is not None else None,
            "verify_slice": self.verify_slice,
            "stopped_by_margin": self.stopped_by_margin,
        }


def run_sweep(
    s3: Any,
    dynamodb: Any,
    *,
    bucket: str,
    prefix: str,
    table: str,
    options: EngineOptions,
    key_attribute: str,
    status_attribute: str,
    remaining_ms: Callable[[], int],
    margin_s: float,
    ledger_table: str | None = None,
    verify_fraction: float = 1 / 24,
    on_warning: Callable[[str], None] | None = None,
    on_result: Callable[[ObjectResult], None] | None = None,
) -> SweepResult:
    continuation = load_continuation(s3, bucket)
    if remaining_ms() < margin_s * 1000:
        # Nothing can be done inside the margin: leave the continuation as it is and say so.
        return SweepResult(
            Counts(),
            continuation.start_after,
            continuation.start_after,
            False,
            continuation.cycle,
            stopped_by_margin=True,
        )
    tracker = Tracker({"list": StreamPosition(continuation.start_after)})
    ledger = Ledger(dynamodb, ledger_table, writer="sweep", on_error=on_warning) if ledger_table else None
    slices = verify_slices(verify_fraction)
    cycle = continuation.cycle
    engine = TaggingEngine(
        s3,
        VerdictLookup(dynamodb, table, key_attribute=key_attribute, status_attribute=status_attribute),
        options,
        ledger=ledger,
        must_verify=lambda c: in_verify_slice(c.bucket, c.key, cycle=cycle, slices=slices),
    )
    positions, _ = tracker.snapshot()
    try:
        end = engine.run(
            listing.list_candidates(s3, bucket, prefix, positions=positions),
            tracker,
            on_result=on_result,
            should_stop=lambda: remaining_ms() < margin_s * 1000,
        )
    finally:
        # Lambda freezes the container when the handler returns: send the queued entries first.
        stats = ledger.close() if ledger is not None else None
    positions, counts = tracker.snapshot()
    began_at = continuation.start_after
    if end.exhausted:
        continuation = Continuation(None, continuation.cycle + 1, continuation.cycles_completed + 1)
    else:
        cursor = positions.get("list", {}).get("cursor")
        continuation = Continuation(
            str(cursor) if cursor else None, continuation.cycle, continuation.cycles_completed
        )
    save_continuation(s3, bucket, continuation)
    slice_text = f"{cycle % slices + 1}/{slices}" if slices else None
    starved = end.stopped and counts.scanned == 0
    return SweepResult(
        counts,
        began_at,
        continuation.start_after,
        end.exhausted,
        continuation.cycle,
        stats,
        slice_text,
        stopped_by_margin=starved,
    )
