"""The dependency rules of the package, over every module (by AST) and by a real import (transitively).

cli -> provision | local | core -> stack -> aws | config | errors; handlers -> core.
core/ and handlers/ ship inside Lambda: no CLI, provisioning or local-runtime code, no typer/rich.
stack/ is the model: it never reaches into the domain. local/ and provision/ never import each other.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).parents[2] / "src" / "picops"
UI = ("typer", "rich", "click", "moto")

# package (or module) of picops -> what it must never import
RULES: dict[str, tuple[str, ...]] = {
    "core": (*UI, "picops.cli", "picops.provision", "picops.local"),
    "handlers": (*UI, "picops.cli", "picops.provision", "picops.local"),
    "stack": (*UI, "picops.core", "picops.handlers", "picops.provision", "picops.local", "picops.cli"),
    "local": ("picops.provision", "picops.cli"),
    "provision": ("picops.local", "picops.cli"),
    "errors": ("picops.",),
    "config": ("picops.aws", "picops.stack", "picops.core", "picops.handlers", "picops.provision",
               "picops.local", "picops.cli", *UI),
    "aws": ("picops.stack", "picops.core", "picops.handlers", "picops.provision", "picops.local",
            "picops.cli", *UI),
}  # fmt: skip


def _area(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


MODULES = sorted(p for p in SRC.rglob("*.py") if _area(p) in RULES)


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from picops import cli` imports picops.cli
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _banned(module: str, bans: tuple[str, ...]) -> bool:
    return any(
        module == b
        or module.startswith(b if b.endswith(".") else b + ".")
        or (b.endswith(".") and module == b[:-1])
        for b in bans
    )


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_module_respects_the_layering(path: Path) -> None:
    bans = RULES[_area(path)]
    bad = {m for m in imported_modules(path) if _banned(m, bans) and m != "picops.errors"}
    if _area(path) == "errors":
        bad = {m for m in imported_modules(path) if m.startswith("picops")}
    assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def test_the_rules_catch_a_violation() -> None:
    assert _banned("picops.cli.output", RULES["core"])
    assert _banned("typer", RULES["handlers"])
    assert _banned("picops.core.tagging", RULES["stack"])
    assert not _banned("picops.stack.names", RULES["core"])


def test_importing_handlers_loads_no_cli_provision_or_local_module() -> None:
    handler_modules = [
        "picops." + str(p.relative_to(SRC).with_suffix("")).replace("/", ".")
        for p in sorted((SRC / "handlers").glob("*.py"))
        if p.name != "__init__.py"
    ]
    code = (
        "import sys, importlib\n"
        f"for m in {handler_modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'typer','rich','click','moto'} "
        "or m.split('.')[:2] in (['picops','cli'], ['picops','provision'], ['picops','local']))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"handlers pull in: {out.stdout.strip()}"
