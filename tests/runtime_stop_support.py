"""Handlers for the local runtime's stop and lock tests: each stops the runtime the way an operator does."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

# What the handlers saw, in call order (tests reset it), and the signal they send to their own process.
CALLS: list[list[str]] = []
SIGNAL = signal.SIGINT


def signalled_mid_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Ctrl-C (or SIGTERM) arrives while the handler works on its batch."""
    CALLS.append([r["body"] for r in event["Records"]])
    os.kill(os.getpid(), SIGNAL)
    time.sleep(60)  # interrupted by the signal well before this ends
    return {"batchItemFailures": []}


def ok_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    CALLS.append([r["body"] for r in event["Records"]])
    return {"batchItemFailures": []}
