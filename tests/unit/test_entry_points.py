"""Before live traffic is wired to a function on AWS, its entry point must import from the bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from picops.errors import UsageError
from picops.provision.bundle import (
    MissingEntryPoint,
    missing_entry_points,
    picops_sources,
    require_entry_points,
)
from picops.stack.model import HANDLERS


def _entries(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    out = {}
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        out[name] = path
    return out


def test_a_bundle_without_a_handler_module_is_refused_naming_the_function(tmp_path: Path) -> None:
    entries = _entries(
        tmp_path,
        {
            "picops/__init__.py": "",
            "picops/handlers/__init__.py": "",
            "picops/handlers/moderation.py": "def stream_handler(event, context):\n    return {}\n",
        },
    )
    entry_points = {
        "ModerationStreamFunction": "picops.handlers.moderation.stream_handler",
        "IngestFunction": "picops.handlers.ingest.handler",
    }
    assert missing_entry_points(entry_points, entries) == [
        "IngestFunction: picops.handlers.ingest.handler: module picops.handlers.ingest is not in the bundle"
    ]
    with pytest.raises(MissingEntryPoint) as caught:
        require_entry_points(entry_points, entries)
    assert isinstance(caught.value, UsageError)
    assert caught.value.exit_code == 2
    assert "IngestFunction" in str(caught.value)
    assert "ModerationStreamFunction" not in caught.value.message


def test_a_module_without_the_function_or_that_does_not_parse_is_refused(tmp_path: Path) -> None:
    entries = _entries(
        tmp_path,
        {
            "picops/handlers/bookings.py": "def api_handler(event, context):\n    return {}\n",
            "picops/handlers/broken.py": "def handler(:\n",
        },
    )
    problems = missing_entry_points(
        {
            "BookingApiFunction": "picops.handlers.bookings.api_handler",
            "PaymentFunction": "picops.handlers.bookings.payment_handler",
            "X": "picops.handlers.broken.handler",
        },
        entries,
    )
    assert problems == [
        "PaymentFunction: picops.handlers.bookings.payment_handler: picops.handlers.bookings defines no "
        "payment_handler",
        problems[1],
    ]
    assert problems[1].startswith("X: picops.handlers.broken.handler: picops.handlers.broken cannot be read")


def test_aliases_and_assignments_count_as_defined(tmp_path: Path) -> None:
    entries = _entries(
        tmp_path,
        {"picops/handlers/m.py": "from picops.core import impl as handler\nother = handler\n"},
    )
    assert (
        missing_entry_points({"A": "picops.handlers.m.handler", "B": "picops.handlers.m.other"}, entries)
        == []
    )


def test_the_real_bundle_is_checked_against_the_real_model() -> None:
    """Whatever the repository holds now: a handler module that is present is never reported missing, and
    one not yet written is."""
    entries = dict(picops_sources())
    problems = missing_entry_points(HANDLERS, entries)
    for logical, target in HANDLERS.items():
        module = target.rpartition(".")[0].replace(".", "/")
        present = f"{module}.py" in entries or f"{module}/__init__.py" in entries
        reported = [p for p in problems if p.startswith(f"{logical}:") and "not in the bundle" in p]
        assert bool(reported) is not present, (logical, problems)
    assert not [p for p in problems if "moderation" in p]
