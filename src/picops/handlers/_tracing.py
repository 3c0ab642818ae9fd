"""The handlers' X-Ray tracer, or a stand-in that never loads the X-Ray SDK (docs/operating.md, "Tracing").

Powertools' Tracer imports `aws_xray_sdk` when it is built, even disabled (it picks the SDK's recorder as its
provider and switches the SDK off through it): about 50 ms of CPU on every cold start. With `[observability]
tracing` off the model sets `POWERTOOLS_TRACE_DISABLED=true` in each function's environment, and then
`tracer()` hands out `NoTracer`, which offers what the handlers call and records nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

if TYPE_CHECKING:
    import numbers

# The variable Powertools' Tracer reads to switch itself off; the model writes it (stack/builders/context.py).
DISABLED_ENV = "POWERTOOLS_TRACE_DISABLED"


class HandlerTracer(Protocol):
    """What the handlers use of Powertools' Tracer."""

    def capture_lambda_handler(
        self,
        lambda_handler: Any = None,
        capture_response: bool | None = None,
        capture_error: bool | None = None,
    ) -> Callable[..., Any]: ...

    def put_annotation(self, key: str, value: str | numbers.Number | bool) -> None: ...


class NoTracer:
    """Tracing off: handlers run undecorated and annotations go nowhere, as a disabled Tracer would do."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.disabled = True

    def capture_lambda_handler(
        self,
        lambda_handler: Any = None,
        capture_response: bool | None = None,
        capture_error: bool | None = None,
    ) -> Callable[..., Any]:
        # Both spellings Powertools accepts: `@capture_lambda_handler` and `@capture_lambda_handler(...)`.
        if lambda_handler is not None:
            return lambda_handler  # type: ignore[no-any-return]
        return _unchanged

    def put_annotation(self, key: str, value: str | numbers.Number | bool) -> None:
        return None


def _unchanged(function: Callable[..., Any]) -> Callable[..., Any]:
    return function


def tracing_disabled() -> bool:
    """POWERTOOLS_TRACE_DISABLED read as Powertools reads it ("true", "1", "yes", "on", any case)."""
    return resolve_truthy_env_var_choice(env=os.getenv(DISABLED_ENV, "false"))


def tracer(service: str) -> HandlerTracer:
    """Powertools' Tracer for `service`, patching botocore only (every AWS call a subsegment; patching every
    library the X-Ray SDK knows imports each one at cold start), unless tracing is switched off."""
    if tracing_disabled():
        return NoTracer(service)
    from aws_lambda_powertools import Tracer

    return Tracer(service=service, patch_modules=("botocore",))
