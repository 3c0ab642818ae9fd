"""The embedded local AWS endpoint: moto's server bound to 127.0.0.1 only.

`picops local up --detach` runs it as a child process (`python -m picops.local.server`) and records
`{url, pid}` in `.picops/local.json`; `picops local down` stops that pid and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from picops.config import state_dir
from picops.errors import EndpointUnreachable, PicopsError, UsageError

HOST = "127.0.0.1"
DEFAULT_PORT = 4566
SERVER_MODULE = "picops.local.server"


@dataclass(frozen=True)
class LocalState:
    url: str
    pid: int
    port: int
    started_at: float


def state_path() -> Path:
    return state_dir() / "local.json"


def log_path() -> Path:
    return state_dir() / "local.log"


def read_local_state(path: Path | None = None) -> LocalState | None:
    path = path or state_path()
    try:
        raw = json.loads(path.read_text())
        return LocalState(
            url=str(raw["url"]),
            pid=int(raw["pid"]),
            port=int(raw["port"]),
            started_at=float(raw.get("started_at", 0)),
        )
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path} is corrupt ({exc}); remove it and start the endpoint again") from None


def write_local_state(state: LocalState, path: Path | None = None) -> None:
    path = path or state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2) + "\n")
    os.replace(tmp, path)


def require_moto() -> None:
    try:
        import moto.server  # noqa: F401
    except ImportError:
        raise UsageError(
            "the embedded endpoint needs moto's server",
            hint="install it with `pip install 'picops[local]'`",
        ) from None


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def url_for(port: int) -> str:
    return f"http://{HOST}:{port}"


def ping(url: str, timeout: float = 2.0) -> bool:
    """True when a moto server answers at `url` (its management API, no AWS state touched)."""
    try:
        with urllib.request.urlopen(f"{url}/moto-api/config", timeout=timeout) as resp:
            return bool(200 <= resp.status < 300)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def reset(url: str) -> None:
    """Drop every resource the server holds (tests and demo clean-up)."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own exited child not yet reaped) is not a running server.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def pid_is_our_server(pid: int) -> bool:
    """Guard against a recycled pid: only signal a process whose command line is our server."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return pid_alive(pid)  # no /proc (macOS): trust the pid we recorded
    return SERVER_MODULE in cmdline


def wait_until_up(url: str, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ping(url, timeout=1.0):
            return
        if proc is not None and proc.poll() is not None:
            raise EndpointUnreachable(
                f"the local endpoint exited during start-up (code {proc.returncode})",
                hint=f"see {log_path()}",
            )
        time.sleep(0.1)
    raise EndpointUnreachable(f"the local endpoint did not answer at {url} within {timeout:.0f}s")


def start_detached(port: int = DEFAULT_PORT, *, record: bool = True) -> LocalState:
    """Start the endpoint as a background process; record it in `.picops/local.json` when `record`."""
    require_moto()
    existing = read_local_state() if record else None
    if existing is not None and pid_alive(existing.pid) and pid_is_our_server(existing.pid):
        raise UsageError(
            f"a local endpoint is already running at {existing.url} (pid {existing.pid})",
            hint="stop it with `picops local down`",
        )
    if not port_is_free(port):
        raise UsageError(f"port {port} on {HOST} is in use", hint="pick another with --port")
    log_file = log_path()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the terminal closing; we stop it by pid
        )
    url = url_for(port)
    try:
        wait_until_up(url, proc=proc)
    except PicopsError:
        proc.kill()
        proc.wait()
        raise
    state = LocalState(url=url, pid=proc.pid, port=port, started_at=time.time())
    if record:
        write_local_state(state)
    return state


def stop_pid(pid: int, timeout: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after `timeout`. Returns True if the process was running."""
    if not pid_alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    _reap(pid)
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop_recorded() -> tuple[LocalState | None, bool]:
    """Stop the endpoint recorded in the state file and clear the record.

    Returns (the record, whether a running server was stopped): a record whose pid is gone, or belongs to
    another program now, is stale; it is cleared and nothing is signalled.
    """
    state = read_local_state()
    if state is None:
        return None, False
    stopped = False
    if pid_alive(state.pid) and pid_is_our_server(state.pid):
        stopped = stop_pid(state.pid)
    state_path().unlink(missing_ok=True)
    return state, stopped


def describe(state: LocalState | None) -> dict[str, Any]:
    if state is None:
        return {"running": False, "url": None, "pid": None, "healthy": False}
    alive = pid_alive(state.pid) and pid_is_our_server(state.pid)
    return {
        "running": alive,
        "url": state.url,
        "pid": state.pid,
        "port": state.port,
        "healthy": alive and ping(state.url),
        "uptime_s": round(time.time() - state.started_at, 1) if alive else None,
    }
