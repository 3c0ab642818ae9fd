"""Decide a redrive before moving anything: which DLQ, where its messages go, native or manual path.

All checks that can fail without touching a message happen here: unknown queues (exit 3), a FIFO/standard
mismatch (exit 2), a DLQ with no source and no --to (exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from picops.core.dlq.move_task import native_unavailable_reason
from picops.core.dlq.queues import QueueRef, check_same_kind, resolve_queue, source_queues
from picops.errors import ResourceMissing, UsageError, input_field
from picops.stack.names import StackNames


@dataclass(frozen=True)
class RedrivePlan:
    dlq: QueueRef
    to: QueueRef | None
    sources: list[QueueRef]
    mode: str  # native | manual
    manual_reason: str | None

    @property
    def destination_label(self) -> str:
        if self.to is not None:
            return self.to.arn
        if len(self.sources) == 1:
            return self.sources[0].arn
        return "each message's source queue (DeadLetterQueueSourceArn)"

    def destination_arn(self) -> str | None:
        if self.to is not None:
            return self.to.arn
        if len(self.sources) == 1:
            return self.sources[0].arn
        return None


def plan_redrive(
    sqs: Any,
    names: StackNames | None,
    queue: str,
    to: str | None,
    *,
    native: bool,
    is_local: bool,
    has_filter: bool,
    has_max: bool,
    has_archive: bool,
) -> RedrivePlan:
    dlq = resolve_queue(sqs, queue, names)
    destination = resolve_queue(sqs, to, names) if to else None
    if destination is not None:
        if destination.arn == dlq.arn:
            raise UsageError(f"{input_field('to')} {to} is the DLQ itself: nothing would move")
        check_same_kind(dlq, destination)
    sources = source_queues(sqs, dlq)
    for source in sources:
        if destination is None:
            check_same_kind(dlq, source)
    if destination is None and not sources:
        raise UsageError(
            f"{dlq.name} has no source queue (no queue's redrive policy names it; it may serve an SNS "
            "subscription or a Lambda function), so there is nowhere to send its messages back",
            hint=f"name the destination with {input_field('to')} QUEUE",
        )
    to_elsewhere = destination is not None and destination.arn not in {s.arn for s in sources}
    reason = native_unavailable_reason(
        native=native,
        is_local=is_local,
        has_filter=has_filter,
        has_max=has_max,
        has_archive=has_archive,
        to_elsewhere=to_elsewhere,
        sqs_sources=len(sources),
    )
    return RedrivePlan(
        dlq=dlq, to=destination, sources=sources, mode="manual" if reason else "native", manual_reason=reason
    )


def arn_resolver(sqs: Any) -> Any:
    """For Router: a source queue named by a message's DeadLetterQueueSourceArn (None if it is gone)."""

    def resolve(arn: str) -> QueueRef | None:
        try:
            return resolve_queue(sqs, arn)
        except (ResourceMissing, UsageError):
            return None

    return resolve
