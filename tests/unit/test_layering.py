"""core/ and handlers/ ship inside Lambda: they must never import typer, rich or picops.cli."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).parents[2] / "src" / "picops"
BANNED = ("typer", "rich", "picops.cli", "click", "moto")
LAMBDA_SIDE = [p for d in ("core", "handlers") for p in sorted((SRC / d).rglob("*.py"))]


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", LAMBDA_SIDE, ids=lambda p: str(p.relative_to(SRC)))
def test_lambda_side_module_imports_no_cli_packages(path: Path) -> None:
    bad = {m for m in imported_modules(path) if any(m == b or m.startswith(b + ".") for b in BANNED)}
    assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def test_importing_handlers_loads_no_cli_packages_transitively() -> None:
    handler_modules = [
        "picops." + str(p.relative_to(SRC).with_suffix("")).replace("/", ".")
        for p in sorted((SRC / "handlers").glob("*.py"))
        if p.name != "__init__.py"
    ] or ["picops.handlers"]
    code = (
        "import sys, importlib\n"
        f"for m in {handler_modules!r}: importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {{'typer','rich','click'}} "
        "or m.startswith('picops.cli'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"handlers pull in CLI packages: {out.stdout.strip()}"
