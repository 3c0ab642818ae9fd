"""One run of a DLQ's redrive schedule (`[dlq.<Logical>] auto_redrive_every`; docs/provision.md).

The run is `picops dlq redrive` without a person: the same mover (archive-free here: the messages stay in
the DLQ until the source confirmed each send), with the schedule's rate cap, its per-run maximum and the
mover's loop guard. Across runs it keeps two marks as tags on the DLQ itself (no other store to grant):
when it last moved messages, and that it stopped. It stops, and stays stopped, once the DLQ's alarm has
fired again after a redrive (the redriven messages are failing again: the cause is not fixed, and another
redrive would only burn their retries); a DLQ seen empty clears both marks, so the next failures start
afresh.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

from picops.core.dlq.queues import QueueRef
from picops.core.dlq.redrive import ManualRedrive, RedriveOptions, Router

MOVED_TAG = "picops:auto-redrive-moved-at"
STOPPED_TAG = "picops:auto-redrive-stopped"


@dataclass(frozen=True)
class AutoRedrive:
    dlq: QueueRef
    source: QueueRef
    alarm: str
    rate: float
    max_messages: int


@dataclass
class AutoRedriveResult:
    dlq: str
    outcome: str  # empty | stopped | the mover's own `stopped` (empty, max, loop_guard, interrupted, ...)
    moved: int = 0
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"dlq": self.dlq, "outcome": self.outcome, "moved": self.moved, "detail": self.detail}


def run_once(
    sqs: Any,
    cloudwatch: Any,
    job: AutoRedrive,
    *,
    now: dt.datetime,
    stop: threading.Event | None = None,
) -> AutoRedriveResult:
    name = job.dlq.logical or job.dlq.name
    tags: dict[str, str] = sqs.list_queue_tags(QueueUrl=job.dlq.url).get("Tags", {})
    if job.dlq.visible == 0 and job.dlq.in_flight == 0:
        marks = [t for t in (MOVED_TAG, STOPPED_TAG) if t in tags]
        if marks:
            sqs.untag_queue(QueueUrl=job.dlq.url, TagKeys=marks)
        return AutoRedriveResult(name, "empty")
    if STOPPED_TAG in tags:
        return AutoRedriveResult(name, "stopped", detail=tags[STOPPED_TAG])
    moved_at = tags.get(MOVED_TAG)
    fired = _fired_since(cloudwatch, job.alarm, moved_at) if moved_at else None
    if fired is not None:
        detail = (
            f"{job.alarm} fired again at {fired:%Y-%m-%dT%H:%M:%SZ} after the redrive at {moved_at}: fix the "
            "cause, then redrive by hand (`picops dlq redrive`); an emptied DLQ resumes the schedule"
        )
        sqs.tag_queue(QueueUrl=job.dlq.url, Tags={STOPPED_TAG: detail})
        return AutoRedriveResult(name, "stopped", detail=detail)
    options = RedriveOptions(max_messages=job.max_messages, rate=job.rate)
    router = Router(job.dlq, job.source, [job.source], lambda _arn: None)
    stats = ManualRedrive(sqs, job.dlq, router, options, stop=stop).run()
    if stats.moved:
        sqs.tag_queue(QueueUrl=job.dlq.url, Tags={MOVED_TAG: f"{now:%Y-%m-%dT%H:%M:%SZ}"})
    return AutoRedriveResult(name, stats.stopped, moved=stats.moved, detail=_errors(stats.errors))


def _fired_since(cloudwatch: Any, alarm: str, moved_at: str) -> dt.datetime | None:
    """When `alarm` went into ALARM, if that was after `moved_at` (None otherwise, or with no such alarm)."""
    since = dt.datetime.strptime(moved_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    found = cloudwatch.describe_alarms(AlarmNames=[alarm]).get("MetricAlarms", [])
    if not found or found[0].get("StateValue") != "ALARM":
        return None
    when = found[0].get("StateUpdatedTimestamp")
    if not isinstance(when, dt.datetime):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return when if when > since else None


def _errors(errors: list[dict[str, str]]) -> str:
    return "; ".join(f"{e.get('code', '?')}: {e.get('message', '')}" for e in errors[:3])
