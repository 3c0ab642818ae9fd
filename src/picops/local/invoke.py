"""Run a Lambda handler in this process, as the function it belongs to.

The environment is process-global, so only one function runs at a time, though several invocations of it
may run at once (`picops.local.workers`): while it runs, the function's environment (its FunctionSpec
variables, the endpoint URL, dummy credentials, the variables the Lambda runtime sets) replaces every
`PICOPS_*` and credential variable, and the original environment is put back once none is running.
Handlers cache clients and settings once per container; when the pump switches function those caches are
cleared so each function sees its own environment. Anything the handler writes to stdout (Powertools logs
JSON there) goes to stderr instead, keeping stdout for the command's own output.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import io
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from picops.aws import LOCAL_CREDENTIALS, ClientInstaller, lambda_factory, use_handler_client_installers
from picops.local import logfiles, watch
from picops.local.handler_logs import HandlerLogView
from picops.local.memory import MemoryMeter
from picops.local.workers import EnvironmentLease, TaskTimedOut, Throttled, run_with_deadline
from picops.strict.guard import acting_as

# The current invocation's line sink: handler threads (and threads they start with the context) write
# through the one redirected stdout, and each line goes to the invocation it came from.
_CAPTURE: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar(
    "picops_invocation_capture", default=None
)


def _dispatcher(stray: Any | None) -> Callable[[str], None]:
    """Each line to its invocation; the runtime's own lines written meanwhile (progress) go to `stray`."""

    def dispatch(line: str) -> None:
        capture = _CAPTURE.get()
        if capture is not None:
            capture(line)
        elif stray is not None:
            stray.write(line + "\n")

    return dispatch


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
    arn: str = ""
    # ReservedConcurrentExecutions: None shares the account's pool (no cap locally).
    reserved_concurrency: int | None = None  # the qualified ARN event sources invoke (the `live` alias)
    # The published version this invocation runs as (alias `live`'s weighted routing picks it).
    version: str = "$LATEST"
    # The directory of the version's own bundle (picops.local.versions) when it runs from it, else "".
    code_dir: str = ""


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
        function_version=target.version,
        invoked_function_arn=target.arn,
        memory_limit_in_mb=target.memory_mb,
        aws_request_id=request_id,
        log_group_name=f"/aws/lambda/{target.name}",
        log_stream_name=f"{time.strftime('%Y/%m/%d')}/[{target.version}]{request_id.replace('-', '')}",
        deadline_monotonic=started + target.timeout_s,
    )


def split_entry_point(entry: str) -> tuple[str, str]:
    module, _, attr = entry.rpartition(".")
    if not module or not attr:
        raise HandlerUnavailable(f"handler not available: {entry} (not a module.function entry point)")
    return module, attr


# The standard streams installed whenever a handler module was loaded: a logging handler created at its
# import (Powertools' Logger) holds the stdout of that moment, which a test runner or an earlier runtime may
# since have replaced. Kept as objects (a handful), not ids, so a later object cannot take a dead one's id.
_STREAMS_AT_LOAD: dict[str, list[Any]] = {"stdout": [], "stderr": []}


def _remember_standard_streams() -> None:
    for kind, stream in (("stdout", sys.stdout), ("stderr", sys.stderr)):
        known = _STREAMS_AT_LOAD[kind]
        if all(stream is not seen for seen in known):
            known.append(stream)
            del known[:-8]


def resolve_handler(entry: str) -> tuple[ModuleType, Handler]:
    """Import `package.module.function`. Raises HandlerUnavailable when the module or function does not
    exist, HandlerBroken when the module exists but its import fails for another reason."""
    module_name, attr = split_entry_point(entry)
    _remember_standard_streams()
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
            "AWS_LAMBDA_FUNCTION_VERSION": target.version,
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


class _Tee(io.TextIOBase):
    """A text stream that writes through to `target` and hands each complete line to `capture`."""

    def __init__(self, target: Any | None, capture: Callable[[str], None]) -> None:
        # No target: the lines go only to `capture` (which decides what the terminal sees).
        self._target = target
        self._capture = capture
        self._partial = ""

    def write(self, text: str) -> int:
        if self._target is not None:
            self._target.write(text)
        self._partial += text
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            self._capture(line)
        return len(text)

    def flush(self) -> None:
        if self._target is not None:
            self._target.flush()

    def finish(self) -> None:
        if self._partial:
            self._capture(self._partial)
            self._partial = ""

    def isatty(self) -> bool:
        return False


def _set_stream(handler: logging.StreamHandler[Any], stream: Any) -> Any:
    """`handler.setStream` without its flush of the old stream, which may be closed (a replaced stdout)."""
    handler.acquire()
    try:
        old = handler.stream
        handler.stream = stream
    finally:
        handler.release()
    return old


@contextlib.contextmanager
def stdout_to_stderr(
    capture: Callable[[str], None] | None = None, *, passthrough: bool = True
) -> Iterator[None]:
    """Handler output (prints, and logging handlers bound to stdout such as Powertools') to stderr.

    With `capture`, every line the handler writes to stdout or stderr is also handed to it (what the Lambda
    runtime would send to CloudWatch Logs); without `passthrough` it goes only there."""
    real_err = sys.stderr
    sink: Any = real_err if capture is None else _Tee(real_err if passthrough else None, capture)
    streams = {id(sys.stdout), id(sys.__stdout__), *(id(s) for s in _STREAMS_AT_LOAD["stdout"])}
    # A logging handler may hold a standard stream that has since been replaced (a handler module imported
    # while another stream was installed, as in test runners): recognise those by name too.
    names = {"<stdout>"}
    if capture is not None:
        streams |= {id(sys.stderr), id(sys.__stderr__), *(id(s) for s in _STREAMS_AT_LOAD["stderr"])}
        names.add("<stderr>")
    swapped: list[tuple[logging.StreamHandler[Any], Any]] = []
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    for lg in loggers:
        for handler in lg.handlers:
            if (
                isinstance(handler, logging.StreamHandler)
                and not isinstance(handler, logging.FileHandler)
                and (id(handler.stream) in streams or getattr(handler.stream, "name", None) in names)
            ):
                swapped.append((handler, _set_stream(handler, sink)))
    try:
        with contextlib.redirect_stdout(sink):
            if capture is None:
                yield
            else:
                with contextlib.redirect_stderr(sink):
                    yield
    finally:
        for handler, stream in swapped:
            _set_stream(handler, stream)
        if isinstance(sink, _Tee):
            sink.finish()


def clear_container_caches(module: ModuleType | None) -> None:
    """Forget what a "container" cached: the handlers' container state (settings, client factory, what was
    built from them) and any cache of the module's own."""
    from picops.handlers import _env

    _env.reset()
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
    request_id: str = ""
    # Not run at all: the function was at its reserved concurrency (`error` is the Throttled).
    throttled: bool = False
    # The lines the handler wrote (stdout and stderr), as the function's log stream would hold them.
    logs: list[str] = field(default_factory=list)


@dataclass
class FunctionCalls:
    """Invocation counts and durations of one function (`picops local run --json` -> `functions[]`)."""

    logical: str
    name: str
    invocations: int = 0
    errors: int = 0
    total_s: float = 0.0
    max_s: float = 0.0

    def add(self, result: Invocation) -> None:
        self.invocations += 1
        self.errors += result.error is not None
        self.total_s += result.elapsed_s
        self.max_s = max(self.max_s, result.elapsed_s)

    def as_dict(self) -> dict[str, Any]:
        return {
            "logical": self.logical,
            "function": self.name,
            "invocations": self.invocations,
            "errors": self.errors,
            "total_ms": round(self.total_s * 1000, 3),
            "mean_ms": round(self.total_s * 1000 / self.invocations, 3) if self.invocations else 0.0,
            "max_ms": round(self.max_s * 1000, 3),
        }


def _lease_key(target: FunctionTarget) -> str:
    # A version routed to by alias weights has an environment of its own: it must not share the running
    # function's (process-wide) environment, and its handler's cached settings are dropped on the switch.
    return target.logical if target.version == "$LATEST" else f"{target.logical}:{target.version}"


def _error_lines(exc: BaseException, request_id: str) -> list[str]:
    """What the Python runtime logs for an unhandled error (type, message, traceback)."""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip("\n")
    return [f"[ERROR] {type(exc).__name__}: {exc}", *trace.splitlines()]


class Invoker:
    """Invokes handlers with their function's environment (one function at a time, `workers`).

    With `log_dir`, each invocation's log lines go to that function's file there (`picops.local.logfiles`),
    framed by the runtime's START / END / REPORT lines; `calls` counts invocations and durations per function.
    With `view`, the terminal shows what the view makes of each line instead of the line itself.
    """

    def __init__(
        self,
        *,
        endpoint_url: str,
        region: str,
        log_dir: Path | None = None,
        view: HandlerLogView | None = None,
        installers: Sequence[ClientInstaller] = (),
    ) -> None:
        self.endpoint_url = endpoint_url
        # Put on the handlers' clients (strict local mode's guard), as the CLI's factory puts them on its own.
        self.installers = tuple(installers)
        self.region = region
        self.log_dir = log_dir
        self.view = view
        self.calls: dict[str, FunctionCalls] = {}
        self._lock = threading.Lock()
        self.lease = EnvironmentLease()
        # Each function's peak memory over the waves of its invocations (one function runs at a time).
        self.memory = MemoryMeter()
        self._modules: dict[str, ModuleType] = {}
        # Each loaded entry point's function (logical name) and the handler's latest code (`reload`).
        self._entries: dict[str, str] = {}
        self._newer: dict[Handler, Handler] = {}

    def load(self, target: FunctionTarget) -> Handler:
        """Import the target's handler (HandlerUnavailable / HandlerBroken when it cannot be)."""
        module, handler = resolve_handler(target.handler)
        self._modules[target.logical] = module
        self._entries[target.handler] = target.logical
        return handler

    def reload(self, packages: tuple[str, ...], changed: set[str]) -> list[str]:
        """Import every loaded handler again from fresh modules of `packages`, once no invocation runs;
        the functions whose code uses a module in `changed`. All or nothing: an import that fails puts the
        previous modules back and raises HandlerBroken / HandlerUnavailable."""
        with self.lease.paused():
            old = {entry: resolve_handler(entry) for entry in self._entries}
            dropped = watch.purge(packages)
            try:
                fresh = {entry: resolve_handler(entry) for entry in self._entries}
            except (HandlerBroken, HandlerUnavailable):
                watch.restore(dropped, packages)
                raise
            for entry, (module, handler) in fresh.items():
                self._modules[self._entries[entry]] = module
                if handler is not old[entry][1]:  # outside `packages` an entry point stays as it was
                    self._newer[old[entry][1]] = handler
            # New code is a new container (a cold start), whatever function ran last.
            self.lease.forget()
        return sorted(
            {
                self._entries[entry]
                for entry, (module, _) in fresh.items()
                if watch.dependencies(module.__name__, packages) & changed
            }
        )

    def latest(self, handler: Handler) -> Handler:
        """The code `handler` was replaced by in the reloads since it was loaded (itself if none)."""
        while handler in self._newer:
            handler = self._newer[handler]
        return handler

    def invoke(self, target: FunctionTarget, handler: Handler, event: Any) -> Invocation:
        """Run `handler` as `target`: concurrently with the same function's other invocations, after every
        other function's have finished. A throttle (reserved concurrency) returns an Invocation with
        `throttled` set, without calling the handler."""
        lines: list[tuple[int, str]] = []
        view = self.view

        def capture(line: str) -> None:
            lines.append((int(time.time() * 1000), line))
            if view is not None:
                view.line(target.logical, line)

        try:
            with self.lease.hold(_lease_key(target), target.reserved_concurrency, self._opener(target)):
                token = _CAPTURE.set(capture)
                try:
                    # Resolved inside the lease: a batch handed over before a reload runs the new code.
                    result, context, started_ms = self._call(target, self.latest(handler), event)
                finally:
                    _CAPTURE.reset(token)
        except Throttled as exc:
            return Invocation(None, exc, 0.0, False, throttled=True)
        result.logs = [text for _, text in lines]
        with self._lock:
            self.calls.setdefault(target.logical, FunctionCalls(target.logical, target.name)).add(result)
        if self.log_dir is not None:
            self._write_log(target, context, started_ms, lines, result)
        return result

    def _opener(self, target: FunctionTarget) -> Callable[[contextlib.ExitStack, bool], None]:
        env = function_environment(target, endpoint_url=self.endpoint_url, region=self.region)

        def open_scope(stack: contextlib.ExitStack, switched: bool) -> None:
            stack.enter_context(self.memory.wave(target.logical, target.memory_mb))
            use_handler_client_installers(self.installers)
            stack.enter_context(applied_environment(env))
            # Without a view the lines pass through to stderr anyway; with one, only the runtime's own do.
            stray = None if self.view is None else sys.stderr
            stack.enter_context(stdout_to_stderr(_dispatcher(stray), passthrough=self.view is None))
            if switched:
                # A different "container": drop what the previous function cached.
                for module in list(self._modules.values()):
                    clear_container_caches(module)

        return open_scope

    def _call(
        self, target: FunctionTarget, handler: Handler, event: Any
    ) -> tuple[Invocation, LambdaContext, int]:
        context = make_context(target)
        started_ms = int(time.time() * 1000)
        began = time.monotonic()

        def call() -> Any:
            # Strict local mode authorises the handler's calls as its function's role.
            with acting_as(target.name):
                return handler(event, context)

        response, error = run_with_deadline(call, target.timeout_s, name=f"picops-{target.logical}")
        elapsed = time.monotonic() - began
        timed_out = isinstance(error, TaskTimedOut) or elapsed > target.timeout_s
        return (
            Invocation(response, error, elapsed, timed_out, request_id=context.aws_request_id),
            context,
            started_ms,
        )

    def _write_log(
        self,
        target: FunctionTarget,
        context: LambdaContext,
        started_ms: int,
        lines: list[tuple[int, str]],
        result: Invocation,
    ) -> None:
        assert self.log_dir is not None
        stream, rid = context.log_stream_name, context.aws_request_id
        ended_ms = int(time.time() * 1000)
        duration = result.elapsed_s * 1000
        events = [logfiles.log_event(started_ms, stream, f"START RequestId: {rid} Version: {target.version}")]
        events += [logfiles.log_event(when, stream, text) for when, text in lines]
        if result.error is not None:
            events += [logfiles.log_event(ended_ms, stream, t) for t in _error_lines(result.error, rid)]
        events.append(logfiles.log_event(ended_ms, stream, f"END RequestId: {rid}"))
        events.append(
            logfiles.log_event(
                ended_ms,
                stream,
                f"REPORT RequestId: {rid}\tDuration: {duration:.2f} ms\t"
                f"Billed Duration: {max(1, int(duration + 0.999))} ms\tMemory Size: {target.memory_mb} MB",
            )
        )
        # Logs are a convenience: a full disk must not fail the invocation.
        with contextlib.suppress(OSError):
            logfiles.append(logfiles.log_path(target.name, self.log_dir), events)

    def close(self) -> None:
        """Drop cached clients and settings built from a function's environment (it has been restored)."""
        with self._lock:
            for module in self._modules.values():
                clear_container_caches(module)
            lambda_factory.cache_clear()
            self.lease.forget()
