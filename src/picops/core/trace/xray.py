"""The X-Ray traces behind a trace's log lines (docs/operating.md, "Tracing"): Powertools' Logger writes the
function's `xray_trace_id` on every line, and the console opens a trace from its id.

With `[observability] tracing = false` the functions are PassThrough: Lambda still gives each invocation a
trace id (so the lines carry one) but samples nothing, and no such trace exists in X-Ray. The ids are then
left out and the note says tracing is off, rather than offering links that open nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

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


def xray_of(entries: Iterable[Entry], *, region: str, tracing: bool, local: bool) -> XRay:
    if local:
        return XRay(note="X-Ray: none on a local endpoint (the local runtime runs no tracer)")
    if not tracing:
        return XRay(note="X-Ray: tracing is off ([observability] tracing = false): no traces to link")
    ids = trace_ids(entries)
    if not ids:
        return XRay(note="X-Ray: no log line of this trace carries an X-Ray trace id")
    return XRay(ids, [trace_url(region, i) for i in ids])
