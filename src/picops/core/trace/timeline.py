"""A trace's timeline: timed entries from every source, oldest first, and the verdict that closes it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


def iso_ms(ms: int) -> str:
    when = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def ms_of_iso(text: str | None) -> int | None:
    """Epoch ms of an ISO 8601 time as the tables store it (None for a missing or unreadable one)."""
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


@dataclass(frozen=True)
class Entry:
    at_ms: int
    # Where it was seen: a table, a queue or a function's logical name.
    source: str
    what: str
    fields: dict[str, Any] = field(default_factory=dict)
    # Log lines at one millisecond keep their written order; records sort before the logs they caused.
    order: int = 0
    # The X-Ray trace a log line was written in (Powertools' `xray_trace_id`); "" for records.
    trace_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": iso_ms(self.at_ms),
            "timestamp": self.at_ms,
            "source": self.source,
            "what": self.what,
            "fields": self.fields,
        }


@dataclass
class Timeline:
    # "booking 01H...", "seat gala/A1", "object photos/x.jpg"
    subject: str
    entries: list[Entry] = field(default_factory=list)
    verdict: str = ""
    # False when the verdict is a failure: the CLI's exit code.
    ok: bool = True
    # What the trace found in the tables now (seat state, job status), for --json.
    state: dict[str, Any] = field(default_factory=dict)
    # Sources that could not be read, each one line: the trace goes on without them.
    gaps: list[str] = field(default_factory=list)
    # The X-Ray traces of its log lines with their console links, or why there are none (`xray_note`).
    xray_trace_ids: list[str] = field(default_factory=list)
    xray_links: list[str] = field(default_factory=list)
    xray_note: str = ""

    def add(self, entries: list[Entry]) -> None:
        self.entries.extend(entries)

    def ordered(self) -> list[Entry]:
        return sorted(self.entries, key=lambda e: (e.at_ms, e.order))

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "timeline": [e.as_dict() for e in self.ordered()],
            "state": self.state,
            "verdict": self.verdict,
            "ok": self.ok,
            "gaps": self.gaps,
            "xray_trace_ids": self.xray_trace_ids,
            "xray_links": self.xray_links,
            "xray_note": self.xray_note,
        }
