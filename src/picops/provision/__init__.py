"""Plan/apply of the resource model, the Lambda bundle builder, deploy.

The public API is `__all__` below (benchmarks and scripts use it; the CLI may reach inner modules). Names
resolve on first use (PEP 562), so `import picops.provision` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    # plan and apply
    "Change": "picops.provision.plan",
    "Plan": "picops.provision.plan",
    "context_for": "picops.provision.plan",
    "make_plan": "picops.provision.plan",
    "Executor": "picops.provision.apply",
    "apply_plan": "picops.provision.apply",
    "preflight_model": "picops.provision.preflight",
    "status_document": "picops.provision.status",
    # the use case: validate, preflight, plan, apply
    "Hooks": "picops.provision.usecase",
    "Outcome": "picops.provision.usecase",
    "run": "picops.provision.usecase",
    # the Lambda bundle and deploy
    "Bundle": "picops.provision.bundle",
    "build_bundle": "picops.provision.bundle",
    "FunctionResult": "picops.provision.deploy",
    "deploy_functions": "picops.provision.deploy",
    "rollback_function": "picops.provision.deploy",
    "select_functions": "picops.provision.deploy",
    # CloudFormation export
    "render_template": "picops.provision.cloudformation",
    "template_model": "picops.provision.cloudformation",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'picops.provision' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
