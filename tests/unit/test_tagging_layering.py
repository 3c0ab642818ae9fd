"""The moderation Lambda ships without the CLI: importing it must not pull in typer, rich or picops.cli."""

from __future__ import annotations

import subprocess
import sys


def test_moderation_handler_imports_no_cli_modules() -> None:
    code = (
        "import sys, picops.handlers.moderation, picops.core.tagging.backfill\n"
        "import picops.core.tagging.sources.inventory\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'typer', 'rich', 'click'}"
        " or m.startswith('picops.cli'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
