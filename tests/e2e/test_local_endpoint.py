"""`picops local up/down/status` and `picops demo` manage a real moto server process, leaving no orphan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from picops.local.endpoint import free_port, pid_alive, ping, port_is_free

pytestmark = pytest.mark.e2e


def picops(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "picops", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ,
    )


def test_local_up_status_down_lifecycle(tmp_path: Path) -> None:
    port = free_port()
    up = picops("local", "up", "--detach", "--port", str(port), "--json")
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    pid = info["pid"]
    try:
        assert info["url"] == f"http://127.0.0.1:{port}"
        assert info["healthy"] is True
        recorded = json.loads((tmp_path / ".picops" / "local.json").read_text())
        assert recorded["pid"] == pid
        assert recorded["url"] == info["url"]

        again = picops("local", "up", "--detach", "--port", str(free_port()))
        assert again.returncode == 2
        assert "already running" in again.stderr

        status = picops("local", "status", "--json")
        assert status.returncode == 0
        assert json.loads(status.stdout)["healthy"] is True

        # Any command can target it with --local.
        demo = picops("--local", "demo", "--json", timeout=180)  # every step, as the test below allows
        assert demo.returncode == 0, demo.stderr
        assert json.loads(demo.stdout)["endpoint"] == info["url"]
        assert ping(info["url"])  # the demo does not stop an endpoint it did not start
    finally:
        down = picops("local", "down", "--json")
    assert down.returncode == 0
    assert json.loads(down.stdout) == {
        "stopped": True,
        "pid": pid,
        "url": info["url"],
        "stale": False,
        "cleared": True,
    }
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(pid), "local down left the server process running"
    assert port_is_free(port)
    assert not (tmp_path / ".picops" / "local.json").exists()

    status = picops("local", "status", "--json")
    assert status.returncode == 0
    assert json.loads(status.stdout)["running"] is False


def test_status_of_a_dead_recorded_endpoint_exits_1(tmp_path: Path) -> None:
    state = tmp_path / ".picops" / "local.json"
    state.parent.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state.write_text(json.dumps({"url": "http://127.0.0.1:1", "pid": dead.pid, "port": 1, "started_at": 0}))
    status = picops("local", "status", "--json")
    assert status.returncode == 1
    assert json.loads(status.stdout)["running"] is False
    # down with a stale record clears it without signalling anyone
    down = picops("local", "down")
    assert down.returncode == 0
    assert not state.exists()


def test_local_up_refuses_a_busy_port() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = picops("local", "up", "--detach", "--port", str(port))
    assert result.returncode == 2
    assert f"port {port}" in result.stderr


def test_demo_starts_and_stops_its_own_endpoint(tmp_path: Path) -> None:
    result = picops("demo", "--json", timeout=180)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is True
    assert document["kept"] is False
    # Every call of every step, the handlers' included, was authorised as AWS would (strict local mode).
    iam = document["iam"]
    assert iam["enforced"]
    assert iam["limits_enforced"]
    assert iam["checked"] > 100
    assert (iam["denied"], iam["refused_values"]) == (0, 0)
    port = int(document["endpoint"].rsplit(":", 1)[1])
    deadline = time.monotonic() + 5
    while not port_is_free(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert port_is_free(port), "demo left its endpoint running without --keep"
    assert not (tmp_path / ".picops" / "local.json").exists()
