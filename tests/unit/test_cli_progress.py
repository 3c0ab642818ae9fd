"""One progress display for the CLI: `Output.progress` (cli/output.py); tag-backfill reports through it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from picops.cli import tag_backfill
from picops.cli.output import Output
from picops.core.tagging import Counts

CLI = Path(__file__).parents[2] / "src" / "picops" / "cli"


class _Recorder:
    def __init__(self) -> None:
        self.task_ids = [7]
        self.updates: list[dict[str, Any]] = []

    def update(self, task: int, **fields: Any) -> None:
        assert task == 7
        self.updates.append(fields)


def test_tag_backfill_progress_goes_through_output_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder()
    opened: list[str] = []

    @contextmanager
    def progress(self: Output, description: str, total: int | None = None) -> Iterator[Any]:
        opened.append(description)
        yield recorder

    monkeypatch.setattr(Output, "progress", progress)
    with ExitStack() as stack:
        update = tag_backfill._progress(stack, Output(), dry_run=False, total=None)
        update(Counts(scanned=10, tagged=4, unchanged=3, pending=2, missing=1, failed=0), 2.0)
    assert opened == ["starting"]
    assert recorder.updates[-1]["completed"] == 10
    description = recorder.updates[-1]["description"]
    for part in (
        "scanned 10",
        "tagged 4",
        "unchanged 3",
        "pending 2",
        "missing 1",
        "failed 0",
        "5 objects/s",
    ):
        assert part in description


def test_a_dry_run_progress_says_would_tag_against_the_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bug: `--dry-run` showed `tagged 602` and `936/?` although the estimate had counted 3,001."""
    recorder = _Recorder()
    totals: list[int | None] = []

    @contextmanager
    def progress(self: Output, description: str, total: int | None = None) -> Iterator[Any]:
        totals.append(total)
        yield recorder

    monkeypatch.setattr(Output, "progress", progress)
    with ExitStack() as stack:
        update = tag_backfill._progress(stack, Output(), dry_run=True, total=3001)
        update(Counts(scanned=936, tagged=602), 2.0)
        update(Counts(scanned=3005, tagged=700), 3.0)
    assert totals == [3001]
    first, last = recorder.updates
    assert "would tag 602" in first["description"]
    assert "tagged" not in first["description"].replace("would tag", "")
    assert first["total"] == 3001
    # The estimate is an upper bound under a prefix, not a cap: a scan past it grows the total.
    assert last["total"] == 3005


def test_only_output_builds_progress_displays() -> None:
    offenders = []
    for path in sorted(CLI.rglob("*.py")):
        if path.name == "output.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = {node.module or ""}
            elif isinstance(node, ast.Import):
                names = {a.name for a in node.names}
            else:
                continue
            if "rich.progress" in names:
                offenders.append(str(path.relative_to(CLI)))
    assert offenders == []


def test_output_progress_is_hidden_off_a_terminal() -> None:
    with Output().progress("x") as bar:
        assert bar.disable  # CliRunner/CI: no terminal, so nothing is drawn on stderr
