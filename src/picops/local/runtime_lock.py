"""One `picops local run` per endpoint and stack: an exclusive lock file under the state directory.

Two runtimes on the same stack would both receive from its queues and both read its stream from the same
checkpoint, delivering every stream record twice. The lock is an `flock` on
`<state dir>/runtime-<stack>-<port>.lock`, held for the life of the runtime; the kernel drops it when the
process ends however it ends (kill -9 included), so a stale file never blocks the next run. The file holds
the owner's pid and what it serves, so the refusal can name it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from picops.config import state_dir
from picops.errors import UsageError


def lock_path(endpoint_url: str, stack: str, directory: Path | None = None) -> Path:
    parts = urlsplit(endpoint_url)
    where = f"{parts.hostname or 'local'}-{parts.port or 0}"
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{stack}-{where}")
    return (directory or state_dir()) / f"runtime-{safe}.lock"


def _owner(handle: IO[str]) -> dict[str, Any]:
    handle.seek(0)
    try:
        doc = json.loads(handle.read() or "{}")
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


@contextlib.contextmanager
def hold(endpoint_url: str, stack: str, directory: Path | None = None) -> Iterator[Path]:
    """Hold the runtime lock of (`endpoint_url`, `stack`) for the block; UsageError (exit 2) naming the pid
    of the runtime that holds it."""
    path = lock_path(endpoint_url, stack, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    # "a+" never truncates: the owner's record stays readable until this process holds the lock.
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _owner(handle).get("pid", "unknown")
            raise UsageError(
                f"another `picops local run` (pid {pid}) already serves stack {stack!r} on {endpoint_url}: "
                "two runtimes would consume the same queues and deliver each stream record twice",
                hint=f"stop that one first (kill -INT {pid}), or use it",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "stack": stack, "endpoint_url": endpoint_url}))
        handle.flush()
        try:
            yield path
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def holders(directory: Path | None = None) -> list[dict[str, Any]]:
    """The runtimes holding a lock under the state directory now (pid, stack, endpoint_url)."""
    found: list[dict[str, Any]] = []
    for path in sorted((directory or state_dir()).glob("runtime-*.lock")):
        with path.open("a+", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                found.append(_owner(handle) or {"pid": "unknown"})
                continue
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return found


__all__ = ["hold", "holders", "lock_path"]
