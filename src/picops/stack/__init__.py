"""The resource model: every resource of the stack, its logical name, physical name and IAM needs.

The face exports what other layers use (benchmarks and scripts); the CLI and provision reach the inner modules
(`picops.stack.model`, `picops.stack.build`, ...). Names resolve on first use (docs/architecture.md, "Cold
start"): the handlers read `picops.stack.names` and `picops.stack.state_objects` without loading the model and
its builders into a Lambda.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from picops import lazy

if TYPE_CHECKING:
    from picops.stack.model import HttpApi, Table
    from picops.stack.names import StackNames

_HOMES: lazy.Homes = {
    "HttpApi": "picops.stack.model",
    "StackNames": "picops.stack.names",
    "Table": "picops.stack.model",
}

__getattr__ = lazy.exports(__name__, _HOMES)

__all__ = ["HttpApi", "StackNames", "Table"]
