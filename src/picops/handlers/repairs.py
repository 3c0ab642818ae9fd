"""The platform's scheduled repairs (contract entry points, picops.functions; docs/provision.md).

- `outbox_handler`: OutboxSchedule (EventBridge, every `[bookings] republish_every`). Republishes every
  booking accepted whose publish to BookingTopic was not confirmed `[bookings] republish_after_s` ago, so a
  crash between accept and publish is repaired within one period, with no one running
  `picops bookings republish`. A booking it could not publish fails the run (OutboxSweepFunction's Errors
  alarm) and stays pending for the next one.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from aws_lambda_powertools import Logger

from picops.core.bookings.outbox import (
    Publisher,
    SnsPublisher,
    SweepFailed,
    scheduled_sweep,
)
from picops.core.bookings.store import BookingStore
from picops.handlers import _env
from picops.handlers._metrics import publish_by_kind
from picops.stack.metrics import service_name

logger = Logger(service="picops-repairs")


def _store(account: str) -> BookingStore:
    return _env.once(
        ("outbox-store", account),
        lambda: BookingStore(
            _env.factory().client("dynamodb"), _env.names(account).physical("BookingsTable")
        ),
    )


def _publisher(account: str) -> Publisher:
    return _env.once(
        ("outbox-publisher", account),
        lambda: SnsPublisher(_env.factory().client("sns"), _env.names(account).arn("BookingTopic")),
    )


def outbox_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    account = _env.account(context)
    settings = _env.settings()
    try:
        result = scheduled_sweep(
            _store(account), _publisher(account), older_than_s=settings.bookings.republish_after_s
        )
    except SweepFailed as exc:
        _count(exc.result.republished, exc.result.failed, settings.stack.name)
        logger.error("outbox sweep left bookings unpublished", extra=exc.result.as_dict())
        raise
    _count(result.republished, {}, settings.stack.name)
    logger.info("outbox sweep", extra={"schedule_event_id": event.get("id"), **result.as_dict()})
    return result.as_dict()


def _count(republished: list[str], failed: dict[str, str], stack: str) -> None:
    counts: Counter[tuple[str, str]] = Counter()
    counts["BookingsRepublished", "outbox"] = len(republished)
    counts["BookingsRepublishFailed", "outbox"] = len(failed)
    publish_by_kind(+counts, service_name(stack))
