"""`picops trace`: one timeline of everything the stack knows about one booking, seat or object.

Sources each add timed entries (`timeline.Entry`): the tables (`bookings`, `objects`), and the functions'
log lines (`logs`: the per-function files locally, one Logs Insights query on AWS). The CLI (`cli/trace.py`)
picks the sources for the target and renders; nothing here imports the CLI. See docs/operating.md.
"""

from __future__ import annotations

from picops.core.trace.timeline import Entry, Timeline

__all__ = ["Entry", "Timeline"]
