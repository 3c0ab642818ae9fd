"""Publishing accepted bookings to BookingTopic, and the outbox sweep for publishes that were lost.

Every accepted booking's pointer item carries `outbox_at` until its publish is confirmed. A crash between
the table write and the publish (or a failed publish) leaves it there; `republish_pending` publishes those
again (MessageGroupId = the seat, MessageDeduplicationId = the booking id, so SNS FIFO drops a duplicate
within its 5-minute window and the consumers, being idempotent, ignore one after it). The booking keeps
its position either way: the line, not the message, decides who is first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from picops.core.bookings.models import BookingMessage
from picops.core.bookings.store import BookingStore


class Publisher(Protocol):
    def __call__(self, message: BookingMessage) -> None: ...


class SnsPublisher:
    def __init__(self, sns: Any, topic_arn: str) -> None:
        self.sns = sns
        self.topic_arn = topic_arn

    def __call__(self, message: BookingMessage) -> None:
        self.sns.publish(
            TopicArn=self.topic_arn,
            Message=json.dumps(message.as_dict(), sort_keys=True),
            MessageGroupId=message.group_id(),
            MessageDeduplicationId=message.booking_id,
            # Carried to both queues (raw delivery keeps attributes), so every hop can log it unparsed.
            MessageAttributes={"booking_id": {"DataType": "String", "StringValue": message.booking_id}},
        )


def publish(store: BookingStore, publisher: Publisher, message: BookingMessage) -> None:
    """Publish, then clear the booking's outbox marker (a failure leaves it for the sweep)."""
    publisher(message)
    store.confirm_published(message.booking_id)


@dataclass
class RepublishResult:
    pending: list[str]
    republished: list[str]
    failed: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "republished": self.republished,
            "failed": [{"booking_id": b, "error": e} for b, e in sorted(self.failed.items())],
        }


class SweepFailed(RuntimeError):
    """Some bookings could not be republished: raised so the run counts as a failed invocation (the sweep's
    Errors alarm) while the bookings stay pending for the next run."""

    def __init__(self, result: RepublishResult) -> None:
        first, error = sorted(result.failed.items())[0]
        super().__init__(
            f"{len(result.failed)} of {len(result.pending)} pending booking(s) not republished "
            f"(first {first}: {error})"
        )
        self.result = result


def republish_pending(
    store: BookingStore,
    publisher: Publisher,
    *,
    older_than_s: float,
    dry_run: bool = False,
    clock: Callable[[], float] = time.time,
) -> RepublishResult:
    pending = store.pending_outbox(clock() - older_than_s)
    result = RepublishResult([p.booking_id for p in pending], [], {})
    if dry_run:
        return result
    for p in pending:
        message = BookingMessage(
            booking_id=p.booking_id, event_id=p.event_id, seat_id=p.seat_id, position=p.position
        )
        try:
            publish(store, publisher, message)
        except Exception as exc:  # one failure must not stop the others; reported per booking
            result.failed[p.booking_id] = f"{type(exc).__name__}: {exc}"
        else:
            result.republished.append(p.booking_id)
    return result


def scheduled_sweep(
    store: BookingStore,
    publisher: Publisher,
    *,
    older_than_s: float,
    clock: Callable[[], float] = time.time,
) -> RepublishResult:
    """One run of the outbox schedule (`[bookings] republish_every`): republish what is pending, and fail
    the run (SweepFailed) when any booking is still unpublished after it."""
    result = republish_pending(store, publisher, older_than_s=older_than_s, clock=clock)
    if result.failed:
        raise SweepFailed(result)
    return result
