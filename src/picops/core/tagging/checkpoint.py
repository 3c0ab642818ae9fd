"""The resumable job's state file, written atomically.

Write to a temporary file in the same directory, fsync it, `os.replace` it over the old one and fsync the
directory: after a kill -9 or power loss the file holds either the previous checkpoint or the new one, never
a torn mix. Everything recorded is committed work (see `tracker`), so resuming from any saved state and
re-running the rest reaches the same final tags: tagging is idempotent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from picops.config import state_dir
from picops.errors import UsageError

STATE_VERSION = 1


def default_state_path(job: dict[str, Any]) -> Path:
    """One state file per distinct job, so two backfills of different sources never share one."""
    digest = hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()[:12]
    return state_dir() / f"tag-backfill-{digest}.json"


@dataclass
class JobState:
    job: dict[str, Any]
    positions: dict[str, dict[str, Any]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    complete: bool = False
    updated_at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "job": self.job,
            "positions": self.positions,
            "counts": self.counts,
            "requests": self.requests,
            "elapsed_s": self.elapsed_s,
            "complete": self.complete,
            "updated_at": self.updated_at,
        }


def save_state(path: Path, state: JobState) -> None:
    state.updated_at = time.time()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = json.dumps(state.as_dict(), indent=1, sort_keys=True).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    # Make the rename itself durable.
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def load_state(path: Path) -> JobState | None:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"state file {path} cannot be read ({exc})", hint="remove it to start over"
        ) from None
    try:
        if raw.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported version {raw.get('version')!r}")
        return JobState(
            job=dict(raw["job"]),
            positions={str(k): dict(v) for k, v in raw.get("positions", {}).items()},
            counts={str(k): int(v) for k, v in raw.get("counts", {}).items()},
            requests={str(k): int(v) for k, v in raw.get("requests", {}).items()},
            elapsed_s=float(raw.get("elapsed_s", 0.0)),
            complete=bool(raw.get("complete", False)),
            updated_at=float(raw.get("updated_at", 0.0)),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UsageError(f"state file {path} is corrupt ({exc})", hint="remove it to start over") from None
