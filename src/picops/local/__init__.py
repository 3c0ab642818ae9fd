"""Local mode: the embedded AWS endpoint (moto's server) and the local runtime that drives the handlers.

The public API is `__all__` below (benchmarks and scripts use it; the CLI may reach inner modules). Names
resolve on first use (PEP 562), so `import picops.local` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    # the embedded endpoint
    "DEFAULT_PORT": "picops.local.endpoint",
    "LocalState": "picops.local.endpoint",
    "free_port": "picops.local.endpoint",
    "ping": "picops.local.endpoint",
    "read_local_state": "picops.local.endpoint",
    "start_detached": "picops.local.endpoint",
    "stop_recorded": "picops.local.endpoint",
    "url_for": "picops.local.endpoint",
    # real event shapes
    "sqs_record": "picops.local.events",
    # the local runtime
    "DEFAULT_SWEEP_EVERY_S": "picops.local.runtime",
    "LocalRuntime": "picops.local.runtime",
    "require_local": "picops.local.runtime",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'picops.local' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
