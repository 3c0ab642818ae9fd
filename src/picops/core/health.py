"""One look at whether the three pipelines are healthy (`picops health`, docs/operating.md).

Every check reads state only (no receive, so no receive count changes): the stack's alarms, its queues' and
DLQs' depths with the oldest message's age, the moderation stream's iterator age, the bookings outbox
backlog, seats left PAYING past their lease, and ingest jobs that failed in the last 24 hours. Each check is
green, amber or red (or `none` when the endpoint has no datapoint to judge by, as on a local endpoint without
CloudWatch metrics) and, unless green, carries the first command to run (backticked, for cli/hints.py).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from picops.aws_errors import is_missing
from picops.core.bookings.store import BOOKING_SK, SEAT_SK
from picops.core.dlq.queues import oldest_age_s, resolve_queue
from picops.core.ingest.jobs import JobStore
from picops.errors import ResourceMissing
from picops.stack.model import Alarm, FunctionSpec, StackModel
from picops.stack.names import DLQ_SOURCES, StackNames

GREEN, AMBER, RED, NONE = "green", "amber", "red", "none"
LEVELS = (GREEN, AMBER, RED, NONE)

PIPELINES = ("ingest", "moderation", "bookings")
# Which pipeline a queue, function or alarm belongs to, by its logical name's start.
_PIPELINE_PREFIXES = (
    ("Ingest", "ingest"),
    ("Moderation", "moderation"),
    ("Sweep", "moderation"),
    ("Booking", "bookings"),
    ("Inventory", "bookings"),
    ("Payment", "bookings"),
)
# The queues whose consumers keep a pipeline moving, and the function that consumes each.
SOURCE_QUEUES = {
    "IngestQueue": "IngestFunction",
    "InventoryQueue": "InventoryFunction",
    "PaymentQueue": "PaymentFunction",
}
# A source queue's oldest message older than this is amber, than the second red (seconds).
QUEUE_AGE_LIMITS_S = (5 * 60, 15 * 60)
# The moderation stream's IteratorAge (milliseconds): amber past a minute, red past the alarm's ten.
ITERATOR_AGE_LIMITS_MS = (60 * 1000, 10 * 60 * 1000)
FAILURE_WINDOW = dt.timedelta(hours=24)
_FIRST = re.compile(r"First: (picops\b.*)")
# A command word: what stops one is prose ("and the function's logs", "(is the mapping there?)").
_WORD = re.compile(r"^[A-Za-z0-9_\-./:=]+$")
_PROSE = frozenset({"and", "then", "or"})


@dataclass(frozen=True)
class Check:
    pipeline: str
    name: str
    level: str
    value: str
    action: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "pipeline": self.pipeline,
            "check": self.name,
            "level": self.level,
            "value": self.value,
            "action": self.action,
        }


@dataclass(frozen=True)
class Readers:
    """The clients the checks read through (from picops.aws's factory)."""

    sqs: Any
    cloudwatch: Any
    dynamodb: Any


def pipeline_of(logical: str) -> str:
    for prefix, pipeline in _PIPELINE_PREFIXES:
        if logical.startswith(prefix):
            return pipeline
    return "stack"


def check_health(
    readers: Readers,
    model: StackModel,
    names: StackNames,
    *,
    republish_after_s: float,
    now: dt.datetime | None = None,
) -> list[Check]:
    """Every check, in pipeline order (ingest, moderation, bookings, then stack-wide)."""
    when = now or dt.datetime.now(dt.UTC)
    checks: list[Check] = []
    checks += alarm_checks(readers.cloudwatch, model)
    checks += queue_checks(readers, names, when)
    checks.append(iterator_age_check(readers.cloudwatch, model, when))
    ddb = readers.dynamodb
    checks.append(
        _unless_missing("ingest", "failures (24 h)", lambda: ingest_failures_check(ddb, names, when))
    )
    cut = when.timestamp() - republish_after_s
    checks.append(_unless_missing("bookings", "outbox backlog", lambda: outbox_check(ddb, names, cut)))
    checks.append(
        _unless_missing(
            "bookings", "seats PAYING past lease", lambda: stuck_seats_check(ddb, names, when.timestamp())
        )
    )
    order = {p: i for i, p in enumerate((*PIPELINES, "stack"))}
    return sorted(checks, key=lambda c: order[c.pipeline])


def worst(checks: Iterable[Check]) -> str:
    levels = {c.level for c in checks}
    for level in (RED, AMBER, GREEN):
        if level in levels:
            return level
    return NONE


# -- alarms ------------------------------------------------------------------------------------------------


def first_command(description: str) -> str:
    """The command an alarm's description says to run first (docs/operating.md lists them)."""
    found = _FIRST.search(description)
    if not found:
        return ""
    words: list[str] = []
    for word in found.group(1).split():
        bare = word.rstrip(".,;")
        if bare in _PROSE or not _WORD.match(bare):
            break
        words.append(bare)
        if bare != word:
            break
    return f"`{' '.join(words)}`"


def alarm_checks(cloudwatch: Any, model: StackModel) -> list[Check]:
    alarms: list[Alarm] = model.of_type(Alarm)
    states = _alarm_states(cloudwatch, [a.name for a in alarms])
    by_pipeline: dict[str, list[Alarm]] = {}
    for alarm in alarms:
        by_pipeline.setdefault(pipeline_of(alarm.logical), []).append(alarm)
    checks = []
    for pipeline, members in sorted(by_pipeline.items()):
        firing = [a for a in members if states.get(a.name) == "ALARM"]
        absent = [a for a in members if a.name not in states]
        if firing:
            value = f"{len(firing)} of {len(members)} in ALARM: " + ", ".join(a.logical for a in firing)
            checks.append(Check(pipeline, "alarms", RED, value, first_command(firing[0].description)))
        elif absent:
            value = f"{len(absent)} of {len(members)} not found: " + ", ".join(a.logical for a in absent)
            checks.append(Check(pipeline, "alarms", AMBER, value, "`picops provision --plan`"))
        else:
            checks.append(Check(pipeline, "alarms", GREEN, f"{len(members)} alarm(s), none in ALARM"))
    return checks


def _alarm_states(cloudwatch: Any, alarm_names: list[str]) -> dict[str, str]:
    states: dict[str, str] = {}
    # DescribeAlarms takes at most 100 names a call.
    for start in range(0, len(alarm_names), 100):
        pages = cloudwatch.get_paginator("describe_alarms").paginate(
            AlarmNames=alarm_names[start : start + 100], AlarmTypes=["MetricAlarm"]
        )
        for page in pages:
            for alarm in page.get("MetricAlarms", []):
                states[alarm["AlarmName"]] = alarm["StateValue"]
    return states


# -- queues ------------------------------------------------------------------------------------------------


def queue_checks(readers: Readers, names: StackNames, now: dt.datetime) -> list[Check]:
    checks = []
    for logical in (*SOURCE_QUEUES, *DLQ_SOURCES):
        pipeline = pipeline_of(logical)
        try:
            ref = resolve_queue(readers.sqs, logical, names)
        except ResourceMissing:
            checks.append(Check(pipeline, logical, RED, "missing", "`picops provision --plan`"))
            continue
        age = oldest_age_s(readers.cloudwatch, ref.name, now=now)
        depth = f"{ref.visible} visible, {ref.in_flight} in flight" + (
            f", oldest {_duration(age)}" if age is not None else ""
        )
        if logical in DLQ_SOURCES:
            held = ref.visible + ref.in_flight
            action = f"`picops dlq peek {logical}`" if held else ""
            checks.append(Check(pipeline, logical, RED if held else GREEN, depth, action))
        else:
            level = _by_limits(age, QUEUE_AGE_LIMITS_S)
            action = f"`picops logs {SOURCE_QUEUES[logical]} --since 15m`" if level in (AMBER, RED) else ""
            checks.append(Check(pipeline, logical, GREEN if level == NONE else level, depth, action))
    return checks


# -- moderation stream ---------------------------------------------------------------------------------------


def iterator_age_check(cloudwatch: Any, model: StackModel, now: dt.datetime) -> Check:
    function = next(f for f in model.of_type(FunctionSpec) if f.logical == "ModerationStreamFunction")
    age_ms = _latest_maximum(
        cloudwatch, "AWS/Lambda", "IteratorAge", [{"Name": "FunctionName", "Value": function.name}], now
    )
    if age_ms is None:
        return Check("moderation", "stream iterator age", NONE, "no datapoint in the last 15 minutes")
    level = _by_limits(age_ms, ITERATOR_AGE_LIMITS_MS)
    action = "`picops logs ModerationStreamFunction --since 15m`" if level != GREEN else ""
    return Check("moderation", "stream iterator age", level, _duration(age_ms / 1000), action)


def _latest_maximum(
    cloudwatch: Any, namespace: str, metric: str, dimensions: list[dict[str, str]], now: dt.datetime
) -> float | None:
    points = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=dimensions,
        StartTime=now - dt.timedelta(minutes=15),
        EndTime=now,
        Period=60,
        Statistics=["Maximum"],
    ).get("Datapoints", [])
    if not points:
        return None
    return float(max(points, key=lambda p: p["Timestamp"])["Maximum"])


# -- tables ------------------------------------------------------------------------------------------------


def ingest_failures_check(dynamodb: Any, names: StackNames, now: dt.datetime) -> Check:
    failed = JobStore(dynamodb, names.physical("JobsTable")).failures(now - FAILURE_WINDOW, now=now)
    if not failed:
        return Check("ingest", "failures (24 h)", GREEN, "none")
    return Check("ingest", "failures (24 h)", AMBER, f"{len(failed)} job(s)", "`picops ingest failures`")


def outbox_check(dynamodb: Any, names: StackNames, older_than: float) -> Check:
    count = _count(
        dynamodb,
        names.physical("BookingsTable"),
        "sk = :sk AND attribute_exists(outbox_at) AND outbox_at <= :cut",
        {":sk": {"S": BOOKING_SK}, ":cut": {"N": repr(older_than)}},
    )
    if not count:
        return Check("bookings", "outbox backlog", GREEN, "none")
    return Check("bookings", "outbox backlog", AMBER, f"{count} unpublished", "`picops bookings republish`")


def stuck_seats_check(dynamodb: Any, names: StackNames, now: float) -> Check:
    count = _count(
        dynamodb,
        names.physical("BookingsTable"),
        "sk = :sk AND #s = :paying AND lease_until < :now",
        {":sk": {"S": SEAT_SK}, ":paying": {"S": "PAYING"}, ":now": {"N": repr(now)}},
        {"#s": "state"},
    )
    if not count:
        return Check("bookings", "seats PAYING past lease", GREEN, "none")
    return Check("bookings", "seats PAYING past lease", RED, f"{count} seat(s)", "`picops bookings inspect`")


def _count(
    dynamodb: Any,
    table: str,
    filt: str,
    values: dict[str, Any],
    attr_names: dict[str, str] | None = None,
) -> int:
    kwargs: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": filt,
        "ExpressionAttributeValues": values,
        "Select": "COUNT",
    }
    if attr_names:
        kwargs["ExpressionAttributeNames"] = attr_names
    return sum(int(p.get("Count", 0)) for p in dynamodb.get_paginator("scan").paginate(**kwargs))


def _unless_missing(pipeline: str, name: str, check: Callable[[], Check]) -> Check:
    """The check, or red `missing` when its table does not exist (a stack not, or not fully, provisioned)."""
    try:
        return check()
    except botocore.exceptions.ClientError as exc:
        if not is_missing(exc):
            raise
        return Check(pipeline, name, RED, "table missing", "`picops provision --plan`")


# -- helpers -----------------------------------------------------------------------------------------------


def _by_limits(value: float | None, limits: tuple[float, float]) -> str:
    if value is None:
        return NONE
    return RED if value > limits[1] else AMBER if value > limits[0] else GREEN


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
