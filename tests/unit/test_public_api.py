"""The core packages' faces: each exports what other layers use, no more (that every name resolves is
tests/unit/test_bench_public_api.py's).

A name only the package itself (or only tests) uses stays in its inner module: tests import it from there.
docs/architecture.md, "Cold start", on why the faces load lazily.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
FACES = ("picops.core.bookings", "picops.core.dlq", "picops.core.ingest", "picops.core.tagging")


def _outside_users(face: str) -> set[str]:
    """Names imported from `face` by src/ modules outside the package, and by bench/."""
    inside = ROOT / "src" / Path(*face.split("."))
    files = [p for p in (ROOT / "src").rglob("*.py") if inside not in p.parents]
    files += list((ROOT / "bench").rglob("*.py"))
    used: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.module == face and node.level == 0:
                used.update(alias.name for alias in node.names)
    return used


@pytest.mark.parametrize("face", FACES)
def test_a_face_exports_only_what_other_layers_use(face: str) -> None:
    exported = set(importlib.import_module(face).__all__)
    assert sorted(exported - _outside_users(face)) == [], f"{face} exports names no other layer imports"


@pytest.mark.parametrize("face", FACES)
def test_no_exported_name_is_also_a_submodule(face: str) -> None:
    """Importing a submodule sets the package attribute of its name to the module, so an exported function
    of that name would turn into the module once anything imported the submodule first."""
    package = ROOT / "src" / Path(*face.split("."))
    submodules = {p.stem for p in package.glob("*.py")} | {p.name for p in package.iterdir() if p.is_dir()}
    module = importlib.import_module(face)
    clashes = [n for n in module.__all__ if n in submodules and not inspect.ismodule(getattr(module, n))]
    assert clashes == []
