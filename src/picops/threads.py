"""Threads that carry their starter's context.

Work a caller hands to threads stays the caller's work: each thread runs in a copy of the starting
thread's `contextvars` context, as asyncio tasks do. What lives there is about who is working and on what:
the local runtime's acting function (strict local mode authorises a handler's calls with its function's
role, also from the handler's worker threads) and logging context. On AWS nothing in picops depends on it.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class ContextThreadPool(ThreadPoolExecutor):
    """A ThreadPoolExecutor whose tasks run in a copy of the submitting thread's context."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        context = contextvars.copy_context()

        def run() -> T:
            return context.run(fn, *args, **kwargs)

        return super().submit(run)


def context_thread(
    target: Callable[..., Any], *, name: str, args: tuple[Any, ...] = (), daemon: bool = True
) -> threading.Thread:
    """A (not yet started) thread running `target(*args)` in a copy of the caller's context."""
    context = contextvars.copy_context()
    return threading.Thread(target=context.run, args=(target, *args), name=name, daemon=daemon)


__all__ = ["ContextThreadPool", "context_thread"]
