"""Handler logs in the demo as in `picops local run`: one short line per record, metrics counted, raw JSON
with -v (docs/local.md)."""

from __future__ import annotations

from rich.markup import escape

from picops.cli.output import Output
from picops.local.handler_logs import HandlerLogView


def demo_log_view(out: Output) -> HandlerLogView:
    return HandlerLogView("json" if out.verbose else "human", lambda line: out.status(f"  {escape(line)}"))
