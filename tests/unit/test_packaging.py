"""Packaging metadata and the newcomer's Makefile (what `make demo` and `make clean` rely on)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_license_is_an_spdx_expression_with_its_file() -> None:
    """A `{ text = ... }` table makes setuptools print a deprecation warning on every install."""
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = doc["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"]
    for pattern in project["license-files"]:
        assert list(ROOT.glob(pattern)), pattern
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    # SPDX license expressions need setuptools 77 or later.
    requires = " ".join(doc["build-system"]["requires"])
    match = re.search(r"setuptools>=(\d+)", requires)
    assert match is not None
    assert int(match.group(1)) >= 77


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_clean_removes_the_local_state(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    state = tmp_path / ".picops" / "logs"
    state.mkdir(parents=True)
    (state / "picops-ingest.jsonl").write_text("{}\n")
    (tmp_path / ".picops" / "local.json").write_text("{}")
    subprocess.run(["make", "-s", "clean"], cwd=tmp_path, check=True, capture_output=True)
    assert not (tmp_path / ".picops").exists()
