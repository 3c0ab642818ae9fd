"""The log lines of every function that touched the traced thing, matched on the correlation ids the
handlers log (docs/operating.md, "Correlation ids").

A match is a list of alternatives, each a set of field = value pairs that must all hold: a booking is
`booking_id = B` or `event_id = E and seat_id = S` (its seat's other bookings decided its fate). Locally
the per-function log files are read whole; on AWS one Logs Insights query spans the stack's log groups.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from picops.core.trace.timeline import Entry
from picops.errors import AwsError

Match = list[dict[str, str]]

# Powertools' context keys: every line has them, none says what the line is about (`picops logs` and the
# local runtime's short lines share them).
POWERTOOLS_KEYS = frozenset(
    {
        "level",
        "location",
        "message",
        "timestamp",
        "service",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "xray_trace_id",
        "sampling_rate",
    }
)
INSIGHTS_LIMIT = 10000  # Logs Insights returns at most 10,000 rows per query
_DONE = frozenset({"Complete", "Failed", "Cancelled", "Timeout", "Unknown"})


def matches(document: dict[str, Any], match: Match) -> bool:
    return any(all(str(document.get(k)) == v for k, v in alt.items()) for alt in match)


def _entry(function: str, at_ms: int, document: dict[str, Any], order: int) -> Entry:
    fields = {k: v for k, v in document.items() if k not in POWERTOOLS_KEYS}
    level = str(document.get("level", "INFO")).upper()
    trace_id = str(document.get("xray_trace_id") or "")
    return Entry(at_ms, function, f"{level} {document.get('message', '')}", fields, order, trace_id)


def _document(message: str) -> dict[str, Any] | None:
    text = message.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def from_events(function: str, events: Iterable[dict[str, Any]], match: Match) -> list[Entry]:
    """Matching lines of one function's events (FilterLogEvents-shaped: timestamp, message)."""
    found: list[Entry] = []
    for order, event in enumerate(events, start=1):
        document = _document(str(event.get("message", "")))
        if document is not None and matches(document, match):
            found.append(_entry(function, int(event["timestamp"]), document, order))
    return found


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def insights_query(match: Match) -> str:
    """One Logs Insights query for the match, oldest first."""
    alternatives = " or ".join(
        "(" + " and ".join(f"{k} = {_quoted(v)}" for k, v in alt.items()) + ")" for alt in match
    )
    return (
        f"fields @timestamp, @message, @log | filter {alternatives} "
        f"| sort @timestamp asc | limit {INSIGHTS_LIMIT}"
    )


def _insights_ms(text: str) -> int:
    when = dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def query_insights(
    logs: Any,
    groups: dict[str, str],
    match: Match,
    start_ms: int,
    end_ms: int,
    *,
    poll_s: float = 1.0,
    timeout_s: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Entry]:
    """Run the query across `groups` (log group name -> function logical name) and wait for it."""
    query_id = logs.start_query(
        logGroupNames=sorted(groups),
        startTime=start_ms // 1000,
        endTime=end_ms // 1000 + 1,
        queryString=insights_query(match),
        limit=INSIGHTS_LIMIT,
    )["queryId"]
    waited = 0.0
    while True:
        response = logs.get_query_results(queryId=query_id)
        status = response.get("status")
        if status in _DONE:
            break
        if waited >= timeout_s:
            raise AwsError(f"logs:GetQueryResults {query_id}: still {status} after {timeout_s:g} s")
        sleep(poll_s)
        waited += poll_s
    if status != "Complete":
        raise AwsError(f"logs:GetQueryResults {query_id} on {len(groups)} log groups: query {status}")
    return _rows(response.get("results", []), groups)


def _rows(results: list[list[dict[str, str]]], groups: dict[str, str]) -> list[Entry]:
    found: list[Entry] = []
    for order, row in enumerate(results, start=1):
        cells = {c["field"]: c.get("value", "") for c in row}
        document = _document(cells.get("@message", ""))
        if document is None:
            continue
        # @log is "<account>:<log group name>".
        group = cells.get("@log", "").partition(":")[2]
        found.append(_entry(groups.get(group, group), _insights_ms(cells["@timestamp"]), document, order))
    return found
