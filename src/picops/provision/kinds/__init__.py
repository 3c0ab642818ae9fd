"""One module per resource kind: how provision reads it (live state in the shape of `desired()`), applies a
change, deletes it and renders it for the CloudFormation export. plan/apply/destroy/cloudformation/live
dispatch through `kind_of`; a kind not yet listed here is still handled in those modules
(docs/architecture.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from picops.provision.kinds import (
    alarm,
    dashboard,
    function_invoke_config,
    lambda_permission,
    schedule_rule,
)
from picops.stack.model import Resource, StackModel

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change


class Kind(Protocol):
    """What a kind module provides (the module itself satisfies it)."""

    def read(self, r: Any, ctx: Context) -> dict[str, Any] | None: ...

    def desired(self, r: Any, ctx: Context) -> dict[str, Any]:
        """The fields the plan compares with `read`: `r.desired()` with what only live state knows."""
        ...

    def apply(self, r: Any, change: Change, ctx: Context) -> None: ...

    def delete(self, r: Any, ctx: Context) -> None: ...

    def render(self, r: Any, model: StackModel) -> dict[str, Any]: ...


KINDS: dict[type[Resource], Kind] = {
    function_invoke_config.MODEL: function_invoke_config,
    schedule_rule.MODEL: schedule_rule,
    lambda_permission.MODEL: lambda_permission,
    alarm.MODEL: alarm,
    dashboard.MODEL: dashboard,
}


def kind_of(resource: Resource) -> Kind | None:
    """The module handling `resource`'s model type, or None while that type is still handled inline."""
    return KINDS.get(type(resource))


__all__ = ["KINDS", "Kind", "kind_of"]
