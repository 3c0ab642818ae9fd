from __future__ import annotations

from pathlib import Path

import pytest

from picops.core.tagging.checkpoint import JobState, default_state_path, load_state, save_state
from picops.errors import UsageError


def test_round_trip_and_no_temp_files_left(tmp_path: Path) -> None:
    path = tmp_path / "state" / "job.json"
    state = JobState(job={"source": "s3://b/p"}, positions={"list": {"cursor": "k", "done": False}})
    state.counts = {"scanned": 3, "tagged": 3}
    save_state(path, state)
    save_state(path, state)
    loaded = load_state(path)
    assert loaded is not None
    assert loaded.job == {"source": "s3://b/p"}
    assert loaded.positions == {"list": {"cursor": "k", "done": False}}
    assert loaded.counts == {"scanned": 3, "tagged": 3}
    assert [p.name for p in path.parent.iterdir()] == ["job.json"]


def test_missing_is_none_and_corrupt_is_a_usage_error(tmp_path: Path) -> None:
    assert load_state(tmp_path / "nope.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UsageError, match="cannot be read"):
        load_state(bad)
    bad.write_text('{"version": 99, "job": {}}')
    with pytest.raises(UsageError, match="corrupt"):
        load_state(bad)


def test_default_path_depends_on_job_and_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PICOPS_STATE_DIR", str(tmp_path / "sd"))
    a = default_state_path({"source": "s3://a/"})
    b = default_state_path({"source": "s3://b/"})
    assert a != b
    assert a.parent == tmp_path / "sd"
    assert a == default_state_path({"source": "s3://a/"})
