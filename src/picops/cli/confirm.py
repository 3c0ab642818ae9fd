"""The one confirmation rule for every command that destroys data or spends money (docs/security.md).

On a terminal, ask (default: no). With `--json`, or when stdin is not a terminal, never ask: refuse with
exit 2 unless `--yes` was given, so a script can never hang on a hidden prompt nor proceed without saying
so. Declining at the prompt exits 1 and changes nothing; Ctrl-C (or end of input) at the prompt exits 130 and
changes nothing. Every such command also has `--dry-run`, which
never asks.
"""

from __future__ import annotations

import sys

import typer

from picops.cli.output import Output
from picops.errors import UsageError


def interactive() -> bool:
    """Whether a person can answer: stdin is a terminal (tests patch this)."""
    return sys.stdin.isatty()


def confirm(out: Output, question: str, *, yes: bool) -> None:
    """Ask `question` (no trailing "?") or refuse, by the rule above. Returns only when confirmed."""
    if yes:
        return
    if out.json_mode or not interactive():
        why = "--json was given" if out.json_mode else "stdin is not a terminal"
        raise UsageError(
            f"{question}: confirmation needed and {why}, so picops does not ask",
            hint="pass --yes to proceed, or --dry-run to see what would happen",
        )
    try:
        answer = typer.confirm(f"{question}?", default=False, err=True)
    except typer.Abort:
        # Click turns Ctrl-C at a prompt into Abort ("Aborted!", exit 1); an interruption is 130.
        out.err.print()
        out.error("interrupted: nothing done")
        raise typer.Exit(130) from None
    if not answer:
        out.status("nothing done")
        raise typer.Exit(1)


__all__ = ["confirm", "interactive"]
