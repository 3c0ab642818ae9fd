"""The resource model: every resource of the stack, its logical name, physical name and IAM needs.

The public API is `__all__` below. Names resolve on first use (PEP 562), so importing one inner module (the
handlers read `picops.stack.names` and `picops.stack.state_objects`) does not load the whole model and its
builders into a Lambda.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "StackNames": "picops.stack.names",
    "logical_names": "picops.stack.names",
    "build_model": "picops.stack.build",
    "StackModel": "picops.stack.model",
    "Resource": "picops.stack.model",
    "Alarm": "picops.stack.model",
    "ApiIntegration": "picops.stack.model",
    "ApiRoute": "picops.stack.model",
    "Bucket": "picops.stack.model",
    "BucketNotification": "picops.stack.model",
    "BucketPolicy": "picops.stack.model",
    "EventSourceMapping": "picops.stack.model",
    "FunctionSpec": "picops.stack.model",
    "HttpApi": "picops.stack.model",
    "LambdaPermission": "picops.stack.model",
    "LogGroup": "picops.stack.model",
    "Queue": "picops.stack.model",
    "QueuePolicy": "picops.stack.model",
    "Role": "picops.stack.model",
    "ScheduleRule": "picops.stack.model",
    "FunctionInvokeConfig": "picops.stack.model",
    "Subscription": "picops.stack.model",
    "Table": "picops.stack.model",
    "Topic": "picops.stack.model",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'picops.stack' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
