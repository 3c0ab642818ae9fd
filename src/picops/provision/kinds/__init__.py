"""One module per resource kind: how provision reads it (live state in the shape of `desired()`), applies a
change, deletes it and renders it for the CloudFormation export. plan/apply/destroy/cloudformation/live
dispatch through `kind_of` only (docs/architecture.md, "Adding a resource kind")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from picops.provision.kinds import (
    alarm,
    api_authorizer,
    api_integration,
    api_route,
    bucket,
    bucket_notification,
    bucket_policy,
    codedeploy_application,
    codedeploy_group,
    dashboard,
    event_source_mapping,
    function,
    function_invoke_config,
    http_api,
    kms_key,
    lambda_permission,
    log_group,
    query_definition,
    queue,
    queue_policy,
    referenced_table,
    role,
    schedule_rule,
    subscription,
    table,
    topic,
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

    def render(self, r: Any, model: StackModel) -> dict[str, Any] | None:
        """The resource's CloudFormation Properties; None when it has no resource of its own."""
        ...


KINDS: dict[type[Resource], Kind] = {
    api_authorizer.MODEL: api_authorizer,
    api_route.MODEL: api_route,
    api_integration.MODEL: api_integration,
    http_api.MODEL: http_api,
    event_source_mapping.MODEL: event_source_mapping,
    function.MODEL: function,
    codedeploy_application.MODEL: codedeploy_application,
    codedeploy_group.MODEL: codedeploy_group,
    kms_key.MODEL: kms_key,
    role.MODEL: role,
    referenced_table.MODEL: referenced_table,
    table.MODEL: table,
    subscription.MODEL: subscription,
    topic.MODEL: topic,
    queue_policy.MODEL: queue_policy,
    queue.MODEL: queue,
    bucket.MODEL: bucket,
    bucket_policy.MODEL: bucket_policy,
    bucket_notification.MODEL: bucket_notification,
    function_invoke_config.MODEL: function_invoke_config,
    schedule_rule.MODEL: schedule_rule,
    lambda_permission.MODEL: lambda_permission,
    alarm.MODEL: alarm,
    dashboard.MODEL: dashboard,
    log_group.MODEL: log_group,
    query_definition.MODEL: query_definition,
}


def kind_of(resource: Resource) -> Kind:
    """The module handling `resource`'s model type, matched exactly: a referenced table is not a managed
    one."""
    kind = KINDS.get(type(resource))
    if kind is None:
        raise TypeError(
            f"no resource kind registered for {type(resource).__name__} (provision/kinds/__init__.py)"
        )
    return kind


# Optional parts of a kind module, each with the answer a kind without it gives:
#   contents(r, ctx) -> str              what destroy would lose ("" = nothing; data-holding kinds)
#   template_depends(r) -> {logical: {logical}}   DependsOn the export adds to other template resources
#   companions(r, model) -> {logical: body}       template resources the kind adds beside its own
#   template_parameters(r) -> {name: parameter}   template parameters it needs (what the template can't know)
#   REFERENCED: str      the kind is owned elsewhere: plan never changes it, destroy passes it by (the reason)


def referenced(resource: Resource) -> str:
    """Why picops never changes or deletes `resource` ("" for the resources it manages)."""
    return str(getattr(kind_of(resource), "REFERENCED", ""))


def template_parameters(resource: Resource) -> dict[str, dict[str, str]]:
    hook = getattr(kind_of(resource), "template_parameters", None)
    return dict(hook(resource)) if hook is not None else {}


def contents(resource: Resource, ctx: Context) -> str:
    hook = getattr(kind_of(resource), "contents", None)
    return str(hook(resource, ctx)) if hook is not None else ""


def template_depends(resource: Resource) -> dict[str, set[str]]:
    hook = getattr(kind_of(resource), "template_depends", None)
    return dict(hook(resource)) if hook is not None else {}


def companions(resource: Resource, model: StackModel) -> dict[str, dict[str, Any]]:
    hook = getattr(kind_of(resource), "companions", None)
    return dict(hook(resource, model)) if hook is not None else {}


__all__ = [
    "KINDS",
    "Kind",
    "companions",
    "contents",
    "kind_of",
    "referenced",
    "template_depends",
    "template_parameters",
]
