"""Per-function invocation logs on a local endpoint: what CloudWatch Logs holds on AWS.

Every in-process invocation (`picops local run`, `picops invoke`) appends its log lines to
`<state dir>/logs/<function name>.jsonl`, one JSON object per line shaped like a FilterLogEvents event
(`timestamp`, `ingestionTime` in epoch milliseconds, `logStreamName`, `message`, `eventId`), framed by the
START / END / REPORT lines the Lambda runtime writes. `picops logs` reads these files the same way it reads
CloudWatch. Appends are single `write` calls of whole lines under a lock, so concurrent writers in one
process never interleave; a partial last line (a writer killed mid-write) is skipped by the reader.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from picops.config import state_dir

_LOCK = threading.Lock()


def log_dir() -> Path:
    """Where the state directory keeps invocation logs (PICOPS_STATE_DIR, default ./.picops)."""
    return state_dir() / "logs"


def log_path(function_name: str, directory: Path | None = None) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in function_name)
    return (directory or log_dir()) / f"{safe}.jsonl"


def log_event(timestamp_ms: int, stream: str, message: str) -> dict[str, Any]:
    return {
        "timestamp": timestamp_ms,
        "ingestionTime": timestamp_ms,
        "logStreamName": stream,
        "message": message,
        "eventId": uuid.uuid4().hex,
    }


def append(path: Path, events: list[dict[str, Any]]) -> None:
    if not events:
        return
    text = "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in events)
    with _LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)


def read(path: Path, *, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Complete events from byte `offset` on, and the offset after the last complete line."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return [], offset
    events: list[dict[str, Any]] = []
    consumed = 0
    for line in _complete_lines(data):
        consumed += len(line)
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and isinstance(event.get("timestamp"), int):
            events.append(event)
    return events, offset + consumed


def _complete_lines(data: bytes) -> Iterator[bytes]:
    start = 0
    while True:
        end = data.find(b"\n", start)
        if end < 0:
            return
        yield data[start : end + 1]
        start = end + 1
