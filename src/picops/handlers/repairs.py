"""The platform's scheduled repairs (contract entry points, picops.functions; docs/provision.md).

- `outbox_handler`: OutboxSchedule (EventBridge, every `[bookings] republish_every`). Republishes every
  booking accepted whose publish to BookingTopic was not confirmed `[bookings] republish_after_s` ago, so a
  crash between accept and publish is repaired within one period, with no one running
  `picops bookings republish`. A booking it could not publish fails the run (OutboxSweepFunction's Errors
  alarm) and stays pending for the next one.
- `redrive_handler`: `<DLQ>RedriveSchedule` (EventBridge, every `[dlq.<DLQ>] auto_redrive_every`), whose
  constant input names the DLQ, its source queue, its alarm and the run's caps. One run of
  `picops.core.dlq.auto_redrive` (the DLQ mover with its rate cap and loop guard, stopping for good once the
  DLQ's alarm fires again after a redrive). Its modules load on its first run, not at the outbox's cold start.
"""

from __future__ import annotations

import datetime as dt
import threading
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


# A redrive run stops this long (at most a quarter of its time) before the function's timeout, so the batch
# in hand is finished and its held messages released; the next run goes on.
REDRIVE_MARGIN_S = 60.0


def redrive_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from picops.core.dlq.auto_redrive import AutoRedrive, run_once
    from picops.core.dlq.queues import describe_queue

    account = _env.account(context)
    names, factory = _env.names(account), _env.factory()
    sqs = factory.client("sqs")

    def queue(logical: str) -> Any:
        return describe_queue(sqs, names.queue_url(logical, factory.endpoint_url), logical=logical)

    job = AutoRedrive(
        dlq=queue(str(event["dlq"])),
        source=queue(str(event["source"])),
        alarm=str(event["alarm"]),
        rate=float(event["rate"]),
        max_messages=int(event["max_messages"]),
    )
    stop = threading.Event()
    left_s = context.get_remaining_time_in_millis() / 1000.0
    timer = threading.Timer(left_s - min(REDRIVE_MARGIN_S, left_s / 4), stop.set)
    timer.daemon = True
    timer.start()
    try:
        result = run_once(sqs, factory.client("cloudwatch"), job, now=dt.datetime.now(dt.UTC), stop=stop)
    finally:
        timer.cancel()
    logger.info("scheduled redrive", extra=result.as_dict())
    return result.as_dict()
