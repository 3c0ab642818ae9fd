"""Rendering: rich for people, plain JSON for machines, never mixed on stdout.

With `--json`, stdout carries exactly one JSON document and everything else (target line, progress, warnings)
goes to stderr. Without it, human output goes to stdout and progress/logs to stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from picops.cli import hints


class Output:
    def __init__(
        self, *, json_mode: bool = False, verbose: bool = False, target: hints.Target | None = None
    ) -> None:
        self.json_mode = json_mode
        self.verbose = verbose
        # Every suggested `picops ...` command printed keeps this invocation's target (cli/hints.py).
        self.hint_target = target
        # Consoles are created per call so CliRunner's swapped streams are honoured in tests.
        self.err = Console(file=sys.stderr, stderr=True, highlight=False, soft_wrap=True)
        self.out = Console(file=sys.stdout, highlight=False, soft_wrap=True)

    @property
    def human(self) -> Console:
        """Where human-readable results go: stdout, or stderr when stdout is reserved for JSON."""
        return self.err if self.json_mode else self.out

    def target(self, description: str) -> None:
        self.human.print(description, markup=False)

    def hint(self, message: str) -> str:
        """`message` with every suggested command carrying the target's options."""
        return hints.rewrite(message, self.hint_target)

    def info(self, message: str) -> None:
        self.human.print(self.hint(message))

    def status(self, message: str) -> None:
        """Progress and log lines: always stderr."""
        self.err.print(self.hint(message))

    def debug(self, message: str) -> None:
        if self.verbose:
            self.err.print(f"[dim]{message}[/dim]")

    def warn(self, message: str) -> None:
        # Messages quote config keys like `[moderation] tag_key`: text, not rich markup.
        self.err.print(f"[yellow]warning:[/yellow] {escape(self.hint(message))}")

    def error(self, message: str, hint: str | None = None) -> None:
        """One `error:` line, and the fix on a `hint:` line when there is one."""
        self.err.print(f"[red]error:[/red] {escape(self.hint(message))}", markup=True, highlight=False)
        if hint:
            self.err.print(f"[dim]hint:[/dim] {escape(self.hint(hint))}", markup=True, highlight=False)

    def emit_json(self, document: Any) -> None:
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")
        sys.stdout.flush()

    def result(self, document: Any, render: Any = None) -> None:
        """Emit `document` as JSON, or call `render()` for people."""
        if self.json_mode:
            self.emit_json(document)
        elif render is not None:
            render()

    def table(self, title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        table = Table(title=title, show_lines=False, header_style="bold")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*("" if cell is None else str(cell) for cell in row))
        self.human.print(table)

    def key_values(self, pairs: Mapping[str, Any]) -> None:
        width = max((len(k) for k in pairs), default=0)
        for key, value in pairs.items():
            self.human.print(f"{key.ljust(width)}  {value}", markup=False)

    @contextmanager
    def progress(self, description: str, total: int | None = None) -> Iterator[Progress]:
        """A progress bar on stderr (hidden when stderr is not a terminal and in JSON mode)."""
        progress = Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.err,
            transient=True,
            disable=not self.err.is_terminal,
        )
        with progress:
            progress.add_task(description, total=total)
            yield progress
