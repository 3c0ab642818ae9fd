"""A handler's container state (docs/architecture.md, "A handler's container state").

Settings, the client factory, the account and whatever a handler builds from them (a store, a pipeline, a
gateway) are made on first use, once per Lambda container, never at import: a cold start pays only for what
the invoked path touches. `reset()` forgets all of it, which is what a new container does (tests call it
between cases; each handler module otherwise keeps nothing of its own).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from picops.aws import ClientFactory
    from picops.config import Settings
    from picops.stack.names import StackNames

T = TypeVar("T")

_settings: Settings | None = None
# What `once` built, and the factory it was built with: a new factory (the local runtime installs another
# request guard) means the clients inside those objects are stale, so they are built again.
_built: dict[Hashable, Any] = {}
_built_with: object = None


def settings() -> Settings:
    """The function's settings, from its environment (`[stack]` plus the sections its FunctionDef lists)."""
    global _settings
    if _settings is None:
        from picops.config import settings_from_env

        _settings = settings_from_env()
    return _settings


def factory() -> ClientFactory:
    """The container's client factory (picops.aws owns it: the local runtime may swap its installers)."""
    from picops.aws import lambda_factory

    return lambda_factory()


def account(context: Any) -> str:
    """The account id from the invoked function's ARN; STS only when the context has none (a test, an
    invocation outside Lambda), since GetCallerIdentity stalls in a VPC without an STS endpoint."""
    parts = str(getattr(context, "invoked_function_arn", "") or "").split(":")
    if len(parts) >= 5 and parts[4].isdigit():
        return parts[4]
    return factory().account_id()


def names(account_id: str) -> StackNames:
    """The stack's physical names and ARNs as this function sees them."""
    from picops.stack.names import StackNames

    return once(("names", account_id), lambda: StackNames(settings(), account_id, factory().region))


def once(key: Hashable, build: Callable[[], T]) -> T:
    """`build()`'s result, made the first time `key` is asked for in this container (and again after the
    factory changed or `reset()`)."""
    global _built_with
    current = factory()
    if current is not _built_with:
        _built.clear()
        _built_with = current
    if key not in _built:
        _built[key] = build()
    value: T = _built[key]
    return value


def reset() -> None:
    """Forget everything, as a new container would: settings, the factory and what was built from them."""
    global _settings, _built_with
    from picops.aws import lambda_factory

    _settings = None
    _built.clear()
    _built_with = None
    lambda_factory.cache_clear()


__all__ = ["account", "factory", "names", "once", "reset", "settings"]
