"""The core packages' faces: each exports what other layers use, no more (that every name resolves is
tests/unit/test_bench_public_api.py's).

A name only the package itself (or only tests) uses stays in its inner module: tests import it from there.
docs/architecture.md, "Cold start", on why the faces load lazily.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
FACES = (
    "picops.core.bookings",
    "picops.core.dlq",
    "picops.core.ingest",
    "picops.core.tagging",
    "picops.local",
    "picops.provision",
    "picops.stack",
)


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
