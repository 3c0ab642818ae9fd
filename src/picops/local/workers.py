"""Where the local runtime's invocations run: concurrently per function, each in a worker it can stop.

The process environment (and sys.stdout) is one per process, so invocations of one function may run at once
(they see the same environment) while a different function waits until the running ones have finished: the
`EnvironmentLease` switches the "container" only when none is running. Reserved concurrency caps a function
across every caller (its mappings and direct invokes): past the cap an invocation is throttled, not queued,
as Lambda answers TooManyRequestsException.

A handler runs in its own thread (`run_with_deadline`). Past the function's timeout the thread is sent an
exception at its next bytecode and abandoned: the caller gets "Task timed out" at the deadline, as on
Lambda, and gives the batch back. A thread blocked in one long C call keeps running until that call returns;
what it then does is discarded.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from picops.threads import context_thread

T = TypeVar("T")

# How long a stopped worker gets to unwind before its invocation is reported regardless.
STOP_GRACE_S = 0.5
# How long invocations of the running function may still join once another function waits.
JOIN_GRACE_S = 0.1


class Throttled(Exception):
    """Rate exceeded: the function already runs its reserved concurrency (TooManyRequestsException)."""


class TaskTimedOut(Exception):
    """The invocation ran past the function's timeout and was stopped."""


class _Stop(BaseException):
    """Raised inside a worker thread to stop a handler past its timeout (BaseException: handlers' `except
    Exception` must not swallow it)."""


class EnvironmentLease:
    """One function's environment at a time, shared by that function's concurrent invocations."""

    def __init__(self) -> None:
        self._gate = threading.Condition()
        self._active: str | None = None
        self._running = 0
        self._per_function: dict[str, int] = {}
        self._waiting_other = 0
        self._other_since = 0.0
        self._scope: contextlib.ExitStack | None = None
        # The most invocations running at once (all functions, and per function).
        self.peak = 0
        self.peak_by_function: dict[str, int] = {}
        self.throttles: dict[str, int] = {}
        # Set while the handlers' code is being replaced (`paused`): no invocation starts.
        self._paused = False

    @contextlib.contextmanager
    def hold(
        self, function: str, reserved: int | None, open_scope: Callable[[contextlib.ExitStack, bool], None]
    ) -> Iterator[None]:
        """Run as `function`. `open_scope(stack, switched)` enters the environment on the first of a wave
        (`switched`: another function ran before). Raises Throttled past `reserved`."""
        with self._gate:
            self._gate.wait_for(lambda: not self._paused)
            running = self._per_function.get(function, 0)
            if reserved is not None and running >= reserved:
                self.throttles[function] = self.throttles.get(function, 0) + 1
                raise Throttled(f"Rate Exceeded: {function} runs its reserved concurrency ({reserved})")
            self._per_function[function] = running + 1
            self._wait_turn(function)
            if self._running == 0:
                stack = contextlib.ExitStack()
                try:
                    open_scope(stack, self._active != function)
                except BaseException:
                    stack.close()
                    self._per_function[function] -= 1
                    raise
                self._scope, self._active = stack, function
            self._running += 1
            self.peak = max(self.peak, self._running)
            # All running now are this function's (one function at a time).
            self.peak_by_function[function] = max(self.peak_by_function.get(function, 0), self._running)
        try:
            yield
        finally:
            self._leave(function)

    def _wait_turn(self, function: str) -> None:
        # Another function waiting longer than JOIN_GRACE_S stops new entries of the running one, so a busy
        # function cannot starve it; within the grace they join (concurrency is what is being exercised).
        if not self._running:
            return
        if self._active == function and (
            not self._waiting_other or time.monotonic() - self._other_since < JOIN_GRACE_S
        ):
            return
        other = self._active != function
        if other and not self._waiting_other:
            self._other_since = time.monotonic()
        self._waiting_other += other
        try:
            self._gate.wait_for(lambda: self._running == 0 and not self._paused)
        finally:
            self._waiting_other -= other

    def _leave(self, function: str) -> None:
        with self._gate:
            self._per_function[function] -= 1
            self._running -= 1
            if self._running == 0 and self._scope is not None:
                scope, self._scope = self._scope, None
                scope.close()
            self._gate.notify_all()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No invocation running or starting while inside: new ones wait, running ones are waited for."""
        with self._gate:
            self._paused = True
            try:
                self._gate.wait_for(lambda: self._running == 0)
                yield
            finally:
                self._paused = False
                self._gate.notify_all()

    @property
    def active(self) -> str | None:
        return self._active

    def forget(self) -> None:
        """The next invocation is a new container whatever function ran last."""
        with self._gate:
            self._active = None


def _raise_in(thread: threading.Thread) -> None:
    ident = thread.ident
    if ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(_Stop))


def run_with_deadline(
    fn: Callable[[], T], timeout_s: float, *, name: str
) -> tuple[T | None, BaseException | None]:
    """`fn()` in a worker thread carrying the caller's context; (result, error). Past `timeout_s` the worker
    is stopped and the error is TaskTimedOut. A KeyboardInterrupt in the caller stops the worker too."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = fn()
        except _Stop:
            box["stopped"] = True
        except BaseException as exc:  # the function's error: reported, not raised here
            box["error"] = exc

    worker = context_thread(work, name=name)
    worker.start()
    try:
        worker.join(timeout_s)
    except KeyboardInterrupt:
        _raise_in(worker)
        raise
    if worker.is_alive():
        _raise_in(worker)
        worker.join(STOP_GRACE_S)
        return None, TaskTimedOut(f"Task timed out after {timeout_s:.2f} seconds")
    error = box.get("error")
    if isinstance(error, Exception) or error is None:
        return box.get("result"), error
    raise error  # SystemExit and the like leave as they would from the handler itself


_DYNAMODB_CALLS = threading.Lock()
_HELD = "picops_emulator_lock"


def serialise_dynamodb(client: Any, factory: Any) -> None:
    """A ClientInstaller for the handlers' clients: one DynamoDB call at a time from this process.

    moto's server copies a table for TransactWriteItems' rollback while other requests may write to it, and
    fails the call (HTTP 500, retried until botocore gives up) when they do. Concurrent handlers would hit
    that constantly; AWS has no such race, so the runtime keeps the emulator out of it."""
    if client.meta.service_model.service_name != "dynamodb":
        return

    def before(context: dict[str, Any], **_: Any) -> None:
        _DYNAMODB_CALLS.acquire()
        context[_HELD] = True

    def after(context: dict[str, Any], **_: Any) -> None:
        if context.pop(_HELD, False):
            _DYNAMODB_CALLS.release()

    # Registered first so it runs before a fault that answers the call itself; released on either outcome.
    client.meta.events.register_first("before-call.dynamodb", before)
    client.meta.events.register_last("after-call.dynamodb", after)
    client.meta.events.register_last("after-call-error.dynamodb", after)
