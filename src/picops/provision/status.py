"""`picops status`: every modelled resource as ok, missing or drifted (the planner's view, nothing "
"changed)."""

from __future__ import annotations

from typing import Any

from picops.provision import live
from picops.provision.plan import Change, Plan, make_plan
from picops.stack.builders.operations import dashboard_url as console_url
from picops.stack.model import Dashboard, EventSourceMapping, Resource

_FACT_ARNS = ("FunctionArn", "RoleArn", "AlarmArn", "SubscriptionArn", "StreamArn")


def resource_arn(resource: Resource, ctx: live.Context) -> str | None:
    try:
        return ctx.names.arn(resource.logical)
    except KeyError:
        pass
    for key in _FACT_ARNS:
        value = ctx.fact(resource.logical, key)
        if value:
            return str(value)
    api_id = ctx.fact(resource.logical, "ApiId")
    if api_id:
        partition = ctx.names.arn("UploadsBucket").split(":")[1]
        return f"arn:{partition}:apigateway:{ctx.model.region}::/apis/{api_id}"
    return None


def _status(change: Change) -> str:
    if change.action == "create":
        return "missing"
    return "ok" if change.action == "noop" else "drifted"


# A dashboard body or a policy is thousands of characters: the detail line shows the start of each value.
DETAIL_VALUE_CHARS = 160


def short_repr(value: Any, limit: int = DETAIL_VALUE_CHARS) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({len(text)} characters)"


def _detail(change: Change) -> str:
    parts = []
    if isinstance(change.resource, EventSourceMapping) and change.resource.local:
        parts.append("local: recorded for `picops local run`, not created in the emulator")
    if change.diff:
        parts.append(
            "; ".join(
                f"{key}: live {short_repr(v['live'])}, desired {short_repr(v['desired'])}"
                for key, v in change.diff.items()
            )
        )
    elif change.action == "create":
        parts.append("does not exist")
    return " | ".join(parts)


def dashboard_url(ctx: live.Context) -> str | None:
    """The console URL of the stack's pipelines dashboard; None on a local endpoint (no console there)."""
    if ctx.factory.is_local:
        return None
    dashboard = next(iter(ctx.model.of_type(Dashboard)), None)
    return console_url(ctx.model.region, dashboard.name) if dashboard is not None else None


def status_document(plan: Plan) -> dict[str, Any]:
    ctx = plan.ctx
    return {
        "stack": ctx.model.stack,
        "target": ctx.factory.target_info(),
        "dashboard_url": dashboard_url(ctx),
        "resources": [
            {
                "logical": c.logical,
                "type": c.resource.type,
                "name": c.resource.name,
                "arn": resource_arn(c.resource, ctx),
                "status": _status(c),
                "detail": _detail(c),
            }
            for c in plan.changes
        ],
    }


def stack_status(ctx: live.Context) -> dict[str, Any]:
    return status_document(make_plan(ctx))


def healthy(document: dict[str, Any]) -> bool:
    return all(r["status"] == "ok" for r in document["resources"])
