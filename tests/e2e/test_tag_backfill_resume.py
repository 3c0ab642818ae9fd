"""Kill -9 (and Ctrl-C) a real `picops tag-backfill` process mid-run, then `--resume` it.

The resumed job must end with exactly the tags an uninterrupted run produces, and with exact totals.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests import tagging_support as ts

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
N = 450


def _arrange(factory: Any) -> tuple[Any, dict[str, dict[str, str]]]:
    """N objects (some with other tags, some already tagged, a third without verdict) and the tags an
    uninterrupted run must leave."""
    stack = ts.create_stack(factory)
    keys = [f"incoming/{i:04d} photo+{i % 7}.jpg" for i in range(N)]
    other = {k: {"owner": f"u{i % 3}"} for i, k in enumerate(keys) if i % 4 == 0}
    s3 = factory.client("s3", concurrency=8)

    def put(key: str) -> None:
        tagging = "&".join(f"{k}={v}" for k, v in other.get(key, {}).items())
        s3.put_object(Bucket=stack.uploads_bucket, Key=key, Body=b"x", Tagging=tagging)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, keys))
    verdicts = {k: ("approved", "flagged", "rejected")[i % 3] for i, k in enumerate(keys) if i % 3 != 2}
    ddb = factory.client("dynamodb")
    items = list(verdicts.items())
    for start in range(0, len(items), 25):
        ddb.batch_write_item(
            RequestItems={
                stack.moderation_table: [
                    {"PutRequest": {"Item": {"object_key": {"S": k}, "status": {"S": v}}}}
                    for k, v in items[start : start + 25]
                ]
            }
        )
    expected = {k: {**other.get(k, {}), **({ts.TAG_KEY: verdicts[k]} if k in verdicts else {})} for k in keys}
    return stack, expected


def _start(endpoint: str, state: Path, *extra: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "picops", "--endpoint-url", endpoint, "tag-backfill"]
    argv += ["--concurrency", "2", "--state", str(state), "--json", *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))


def _wait_for_progress(proc: subprocess.Popen[bytes], state: Path, at_least: int) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"backfill ended before it could be interrupted: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
        try:
            scanned = int(json.loads(state.read_text())["counts"].get("scanned", 0))
        except (FileNotFoundError, ValueError, KeyError):
            scanned = 0
        if scanned >= at_least:
            return scanned
        time.sleep(0.05)
    pytest.fail("no checkpoint appeared")


def _wait_for_target_line(proc: subprocess.Popen[bytes]) -> None:
    """Wait for an observable state: the process has started working (its first stderr line, the target,
    is written before the first listing request), rather than for a fixed time."""
    assert proc.stderr is not None
    line = proc.stderr.readline()  # blocks until the line is there (or the process ended)
    if not line.startswith(b"target:"):
        pytest.fail(f"backfill did not start as expected: {line!r} {proc.stderr.read().decode()}")


@pytest.mark.parametrize("kill_at", ["before-first-checkpoint", "mid-run"])
def test_kill_9_then_resume_gives_the_uninterrupted_result(
    endpoint: str, server_factory: Any, tmp_path: Path, kill_at: str
) -> None:
    stack, expected = _arrange(server_factory)
    state = tmp_path / "job.json"
    proc = _start(endpoint, state)
    if kill_at == "mid-run":
        # The first checkpoint with progress (written about once a second): the job is still well short of N.
        _wait_for_progress(proc, state, 20)
    else:
        _wait_for_target_line(proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    if kill_at == "mid-run":
        saved = json.loads(state.read_text())
        assert not saved["complete"]
        assert 0 < saved["counts"]["scanned"] < N
    resumed = _start(endpoint, state, "--resume")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err.decode()
    doc = json.loads(out)
    assert doc["scanned"] == N
    assert doc["pending"] == N // 3
    assert doc["tagged"] + doc["unchanged"] == N - N // 3
    assert doc["failed"] == 0
    assert ts.all_tags(server_factory, stack.uploads_bucket, "incoming/") == expected
    # The tag ledger ends with exactly one true entry per object carrying its verdict, whatever the kill
    # interrupted (entries queued but not sent are simply missing until a pass re-records them).
    items = ts.ledger_items(server_factory, stack.jobs_table)
    want = {
        f"LEDGER#{stack.uploads_bucket}/{k}": t[ts.TAG_KEY] for k, t in expected.items() if ts.TAG_KEY in t
    }
    assert set(items) <= set(want)
    assert all(items[pk]["verdict"] == want[pk] for pk in items)
    # A fresh pass trusts exactly those entries, records the rest, and leaves the same tags.
    fresh = _start(endpoint, tmp_path / "fresh.json")
    out, err = fresh.communicate(timeout=120)
    assert fresh.returncode == 0, err.decode()
    assert json.loads(out)["skipped_by_ledger"] == len(items)
    after = ts.ledger_items(server_factory, stack.jobs_table)
    assert {pk: i["verdict"] for pk, i in after.items()} == want
    assert ts.all_tags(server_factory, stack.uploads_bucket, "incoming/") == expected


def test_ctrl_c_saves_the_checkpoint_and_exits_130(
    endpoint: str, server_factory: Any, tmp_path: Path
) -> None:
    stack, expected = _arrange(server_factory)
    state = tmp_path / "job.json"
    proc = _start(endpoint, state)
    _wait_for_progress(proc, state, 50)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err.decode()
    assert "--resume" in err.decode()
    saved = json.loads(state.read_text())
    assert not saved["complete"]
    resumed = _start(endpoint, state, "--resume")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err.decode()
    assert json.loads(out)["scanned"] == N
    assert ts.all_tags(server_factory, stack.uploads_bucket, "incoming/") == expected
