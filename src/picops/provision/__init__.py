"""Plan/apply of the resource model, the Lambda bundle builder, deploy.

The face exports what other layers use (benchmarks and scripts); the CLI reaches the inner modules. Names
resolve on first use (docs/architecture.md, "Cold start"), so `import picops.provision` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from picops import lazy

if TYPE_CHECKING:
    from picops.provision.apply import Executor
    from picops.provision.bundle import build_bundle
    from picops.provision.plan import Change, Plan, context_for, make_plan
    from picops.provision.usecase import Hooks, run

_HOMES: lazy.Homes = {
    "Change": "picops.provision.plan",
    "Executor": "picops.provision.apply",
    "Hooks": "picops.provision.usecase",
    "Plan": "picops.provision.plan",
    "build_bundle": "picops.provision.bundle",
    "context_for": "picops.provision.plan",
    "make_plan": "picops.provision.plan",
    # the use case the command and the demo share: validate, preflight, plan, apply
    "run": "picops.provision.usecase",
}

__getattr__ = lazy.exports(__name__, _HOMES)

__all__ = [
    "Change",
    "Executor",
    "Hooks",
    "Plan",
    "build_bundle",
    "context_for",
    "make_plan",
    "run",
]
