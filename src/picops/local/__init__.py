"""Local mode: the embedded AWS endpoint (moto's server) and the local runtime that drives the handlers.

The face exports what other layers use (benchmarks and scripts); the CLI reaches the inner modules. Names
resolve on first use (docs/architecture.md, "Cold start"), so `import picops.local` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from picops import lazy

if TYPE_CHECKING:
    from picops.local.endpoint import free_port
    from picops.local.events import sqs_record
    from picops.local.runtime import LocalRuntime
    from picops.local.server import install_extensions

_HOMES: lazy.Homes = {
    "LocalRuntime": "picops.local.runtime",
    "free_port": "picops.local.endpoint",
    "install_extensions": "picops.local.server",
    "sqs_record": "picops.local.events",
}

__getattr__ = lazy.exports(__name__, _HOMES)

__all__ = ["LocalRuntime", "free_port", "install_extensions", "sqs_record"]
