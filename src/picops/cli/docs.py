"""docs/cli.md, generated from the Typer app: `make docs` (or `python -m picops.cli.docs docs/cli.md`).

The page is rendered by Typer's own Markdown writer over the click command tree, so it says exactly what
`picops ... --help` says. tests/unit/test_cli_docs.py fails when the checked-in page differs from what this
renders, and when any command, argument or option has no help text.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
import typer.cli

from picops.cli.app import app

HEADER = (
    "<!-- Generated from the Typer app by `make docs` (python -m picops.cli.docs docs/cli.md). "
    "Do not edit by hand: change the help texts in src/picops/cli/ and regenerate. -->\n\n"
    "# picops command reference\n\n"
    "Every command, argument and option, as `picops COMMAND --help` shows them. Behaviour, guarantees and "
    "limits of each pipeline are in the hand-written pages next to this one (see the README's "
    "[where to go next](../README.md#where-to-go-next)).\n\n"
)


def root_command() -> Any:
    """The click command tree Typer builds for `picops`, every command loaded."""
    root: Any = typer.main.get_command(app)
    root.commands  # noqa: B018 - reading it loads every lazily registered command
    return root


def render() -> str:
    """The whole command reference as Markdown (deterministic: no terminal width, no environment)."""
    command = root_command()
    ctx = typer.Context(command, info_name="picops")
    body = typer.cli.get_docs_for_click(obj=command, ctx=ctx, name="picops", title="`picops`")
    # The page has its own title; the root command's section is the global options.
    body = body.replace("# `picops`\n", "## `picops` (global options)\n", 1)
    body = "\n".join(line.rstrip() for line in body.splitlines()).strip() + "\n"
    return HEADER + body


def missing_help(root: Any = None) -> list[str]:
    """Every command, argument and option without help text, as `picops dlq peek --count`-style paths."""
    problems: list[str] = []

    def walk(path: str, command: Any) -> None:
        if not (command.help or "").strip():
            problems.append(f"{path} (command)")
        for param in command.params:
            name = param.opts[-1] if param.opts else str(param.name)
            text = getattr(param, "help", None)
            if not (text or "").strip():
                problems.append(f"{path} {name}")
        subcommands: dict[str, Any] = getattr(command, "commands", {}) or {}
        for sub_name, sub in subcommands.items():
            walk(f"{path} {sub_name}", sub)

    walk("picops", root_command() if root is None else root)
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args:
        Path(args[0]).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
