"""Run a Lambda handler in this process, as the function it belongs to.

The environment is process-global, so invocations are serial (a lock enforces it): for each call the
function's environment (its FunctionSpec variables, the endpoint URL, dummy credentials, the variables the
Lambda runtime sets) replaces every `PICOPS_*` and credential variable, and the original environment is put
back afterwards. Handlers cache clients and settings once per container; when the pump switches function
those caches are cleared so each function sees its own environment. Anything the handler writes to stdout
(Powertools logs JSON there) goes to stderr instead, keeping stdout for the command's own output.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from picops.aws import LOCAL_CREDENTIALS, lambda_factory

Handler = Callable[[Any, Any], Any]

# Removed from the environment for the call: a user's profile or session must never reach a handler.
_SCRUBBED_PREFIXES = ("PICOPS_",)
_SCRUBBED = frozenset(
    {
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    }
)


class HandlerUnavailable(Exception):
    """The entry point's module or function does not exist (not built yet)."""


class HandlerBroken(Exception):
    """The entry point's module exists but fails to import."""


@dataclass(frozen=True)
class FunctionTarget:
    """One function as the local runtime invokes it."""

    logical: str
    name: str
    handler: str  # entry point, `package.module.function`
    env: Mapping[str, str] = field(default_factory=dict)
    timeout_s: int = 30
    memory_mb: int = 512
    arn: str = ""  # the qualified ARN event sources invoke (the `live` alias)


@dataclass
class LambdaContext:
    """The attributes and method of the Lambda Python runtime's context object that handlers use."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_monotonic: float

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline_monotonic - time.monotonic()) * 1000))


def make_context(target: FunctionTarget, *, now: float | None = None) -> LambdaContext:
    started = time.monotonic() if now is None else now
    request_id = str(uuid.uuid4())
    return LambdaContext(
        function_name=target.name,
        function_version="$LATEST",
        invoked_function_arn=target.arn,
        memory_limit_in_mb=target.memory_mb,
        aws_request_id=request_id,
        log_group_name=f"/aws/lambda/{target.name}",
        log_stream_name=f"{time.strftime('%Y/%m/%d')}/[$LATEST]{request_id.replace('-', '')}",
        deadline_monotonic=started + target.timeout_s,
    )


def split_entry_point(entry: str) -> tuple[str, str]:
    module, _, attr = entry.rpartition(".")
    if not module or not attr:
        raise HandlerUnavailable(f"handler not available: {entry} (not a module.function entry point)")
    return module, attr


def resolve_handler(entry: str) -> tuple[ModuleType, Handler]:
    """Import `package.module.function`. Raises HandlerUnavailable when the module or function does not
    exist, HandlerBroken when the module exists but its import fails for another reason."""
    module_name, attr = split_entry_point(entry)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only the entry point's own module (or a parent package) missing means "not built yet"; a
        # missing dependency inside an existing module is a real error worth showing.
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise HandlerUnavailable(f"handler not available: {entry}") from None
        raise HandlerBroken(f"handler {entry} failed to import: {exc}") from exc
    except Exception as exc:
        raise HandlerBroken(f"handler {entry} failed to import: {type(exc).__name__}: {exc}") from exc
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise HandlerUnavailable(f"handler not available: {entry}")
    return module, handler


def function_environment(target: FunctionTarget, *, endpoint_url: str, region: str) -> dict[str, str]:
    """The variables a call of `target` runs with (on top of the scrubbed process environment)."""
    env = dict(target.env)
    env.update(
        {
            "PICOPS_ENDPOINT_URL": endpoint_url,
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS[0],
            "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS[1],
            "AWS_LAMBDA_FUNCTION_NAME": target.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(target.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{target.name}",
        }
    )
    return env


@contextlib.contextmanager
def applied_environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    try:
        for name in list(os.environ):
            if name.startswith(_SCRUBBED_PREFIXES) or name in _SCRUBBED:
                del os.environ[name]
        os.environ.update(env)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Handler output (prints, and logging handlers bound to stdout such as Powertools') to stderr."""
    stdouts = {id(sys.stdout), id(sys.__stdout__)}
    swapped: list[tuple[logging.StreamHandler[Any], Any]] = []
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    for lg in loggers:
        for handler in lg.handlers:
            if (
                isinstance(handler, logging.StreamHandler)
                and not isinstance(handler, logging.FileHandler)
                and id(handler.stream) in stdouts
            ):
                swapped.append((handler, handler.setStream(sys.stderr)))
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        for handler, stream in swapped:
            handler.setStream(stream)


def clear_container_caches(module: ModuleType | None) -> None:
    """Forget what a "container" cached: the shared client factory and the module's cached settings."""
    lambda_factory.cache_clear()
    if module is None:
        return
    for value in vars(module).values():
        clear = getattr(value, "cache_clear", None)
        if callable(clear) and getattr(value, "__module__", None) == module.__name__:
            clear()


@dataclass
class Invocation:
    response: Any
    error: BaseException | None
    elapsed_s: float
    timed_out: bool


class Invoker:
    """Invokes handlers one at a time with their function's environment."""

    def __init__(self, *, endpoint_url: str, region: str) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self._lock = threading.Lock()
        self._active: str | None = None
        self._modules: dict[str, ModuleType] = {}

    def load(self, target: FunctionTarget) -> Handler:
        """Import the target's handler (HandlerUnavailable / HandlerBroken when it cannot be)."""
        module, handler = resolve_handler(target.handler)
        self._modules[target.logical] = module
        return handler

    def invoke(self, target: FunctionTarget, handler: Handler, event: Any) -> Invocation:
        env = function_environment(target, endpoint_url=self.endpoint_url, region=self.region)
        with self._lock, applied_environment(env), stdout_to_stderr():
            if self._active != target.logical:
                # A different "container": drop what the previous function cached.
                for module in self._modules.values():
                    clear_container_caches(module)
                self._active = target.logical
            context = make_context(target)
            began = time.monotonic()
            try:
                response = handler(event, context)
                error: BaseException | None = None
            except Exception as exc:  # the function's error: Lambda reports it and retries the batch
                response, error = None, exc
            elapsed = time.monotonic() - began
        return Invocation(response, error, elapsed, elapsed > target.timeout_s)

    def close(self) -> None:
        """Drop cached clients and settings built from a function's environment (it has been restored)."""
        with self._lock:
            for module in self._modules.values():
                clear_container_caches(module)
            lambda_factory.cache_clear()
            self._active = None
