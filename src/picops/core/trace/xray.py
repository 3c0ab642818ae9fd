"""The X-Ray traces behind a trace (docs/operating.md, "Tracing"): Powertools' Logger writes the function's
`xray_trace_id` on every line, the handlers annotate their segment with the thing's id (`booking_id`, `key`),
and the console opens a trace from its id.

The annotation finds traces whose log lines are gone (a log group's retention is shorter than X-Ray's 30 days)
or were never matched (a line that names the booking in its message only): one GetTraceSummaries filter per
day of the window, since X-Ray refuses a range over 24 hours.

With `[observability] tracing = false` the functions are PassThrough: Lambda still gives each invocation a
trace id (so the lines carry one) but samples nothing, and no such trace exists in X-Ray. The ids are then
left out and the note says tracing is off, rather than offering links that open nothing.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import botocore.exceptions

from picops.aws_errors import code_of
from picops.core.trace.timeline import Entry
from picops.stack.names import partition_of

# The console of each partition other than the commercial one (which is per region).
_CONSOLE_HOSTS = {"aws-us-gov": "console.amazonaws-us-gov.com", "aws-cn": "console.amazonaws.cn"}


@dataclass(frozen=True)
class XRay:
    trace_ids: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    # One line for the human output: why there are no links, or "" when there are.
    note: str = ""


# X-Ray keeps a trace 30 days and answers GetTraceSummaries for at most 24 hours at a time.
RETENTION_S = 30 * 24 * 3600
WINDOW_S = 24 * 3600
# The values a filter expression's quoted string can hold without escaping rules X-Ray does not document.
_PLAIN = frozenset(
    string.ascii_letters + string.digits + " " + string.punctuation.translate({34: None, 92: None})
)


@dataclass(frozen=True)
class Annotated:
    """What the handlers annotate their segment with, and the value this trace looks for."""

    name: str  # booking_id (bookings consumers), key (ingest)
    value: str

    def filter_expression(self) -> str | None:
        """`annotation.<name> = "<value>"`, or None when the value holds a character a quoted filter string
        cannot carry as is (a quote, a backslash, a control character): then only the log lines' ids count."""
        if not self.value or not set(self.value) <= _PLAIN:
            return None
        return f'annotation.{self.name} = "{self.value}"'


def windows(start_s: float, end_s: float) -> list[tuple[datetime, datetime]]:
    """[start, end] cut into the ranges GetTraceSummaries accepts, newest first, within X-Ray's retention."""
    start_s = max(start_s, end_s - RETENTION_S)
    out: list[tuple[datetime, datetime]] = []
    upper = end_s
    while upper > start_s:
        lower = max(start_s, upper - WINDOW_S)
        out.append((datetime.fromtimestamp(lower, UTC), datetime.fromtimestamp(upper, UTC)))
        upper = lower
    return out


def annotated_trace_ids(xray: Any, wanted: Annotated, start_s: float, end_s: float) -> tuple[list[str], str]:
    """The ids of the traces annotated with `wanted` between the two times, oldest first, and a note ("" or
    why the lookup stopped: X-Ray's refusal is a gap in the trace, never the end of it)."""
    expression = wanted.filter_expression()
    if expression is None:
        return [], f"X-Ray: {wanted.name} {wanted.value!r} cannot be put in a filter expression: not searched"
    found: dict[str, float] = {}
    paginator = xray.get_paginator("get_trace_summaries")
    try:
        for lower, upper in windows(start_s, end_s):
            pages = paginator.paginate(
                StartTime=lower, EndTime=upper, TimeRangeType="TraceId", FilterExpression=expression
            )
            for page in pages:
                for summary in page.get("TraceSummaries", []):
                    found.setdefault(str(summary["Id"]), _started(summary))
    except botocore.exceptions.ClientError as exc:
        return sorted(found, key=found.__getitem__), f"X-Ray: GetTraceSummaries refused ({code_of(exc)})"
    return sorted(found, key=found.__getitem__), ""


def _started(summary: dict[str, Any]) -> float:
    started = summary.get("StartTime")
    if isinstance(started, datetime):
        return started.timestamp()
    return float(started or 0)


def trace_ids(entries: Iterable[Entry]) -> list[str]:
    """Each trace id once, in the order its first line was written."""
    seen: dict[str, None] = {}
    for entry in sorted(entries, key=lambda e: (e.at_ms, e.order)):
        if entry.trace_id:
            seen.setdefault(entry.trace_id, None)
    return list(seen)


def trace_url(region: str, trace_id: str) -> str:
    host = _CONSOLE_HOSTS.get(partition_of(region), f"{region}.console.aws.amazon.com")
    return f"https://{host}/cloudwatch/home?region={region}#xray:traces/{trace_id}"


_NO_TRACE = "X-Ray: no log line of this trace carries a trace id, and no trace is annotated with its id"


def xray_of(
    entries: Iterable[Entry],
    *,
    region: str,
    tracing: bool,
    local: bool,
    annotated: Iterable[str] = (),
    lookup_note: str = "",
) -> XRay:
    """The links of the lines' traces, then of the traces X-Ray found by annotation (`annotated`, from
    `annotated_trace_ids`), each once."""
    if local:
        return XRay(note="X-Ray: none on a local endpoint (the local runtime runs no tracer)")
    if not tracing:
        return XRay(note="X-Ray: tracing is off ([observability] tracing = false): no traces to link")
    ids = list(dict.fromkeys([*trace_ids(entries), *annotated]))
    if not ids:
        return XRay(note=lookup_note or _NO_TRACE)
    return XRay(ids, [trace_url(region, i) for i in ids], lookup_note)
