"""AWS::ApiGatewayV2::Integration: the HTTP API's Lambda proxy (payload 2.0) to a function's `live`
alias."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picops.provision.kinds._common import GONE, ignore_missing, paginated
from picops.provision.kinds.function import live_alias
from picops.stack.model import ApiIntegration, StackModel

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = ApiIntegration


def read(r: ApiIntegration, ctx: Context) -> dict[str, Any] | None:
    api_id = ctx.fact(r.api, "ApiId")
    if not api_id:
        return None
    items = paginated(ctx.client("apigatewayv2"), "get_integrations", "Items", ApiId=api_id)
    ours = [i for i in items if i.get("IntegrationType") == "AWS_PROXY"]
    # The one pointing at this function; else a proxy integration to update (the alias moved).
    match = next((i for i in ours if i.get("IntegrationUri") == r.function_arn), ours[0] if ours else None)
    if match is None:
        return None
    ctx.remember(r.logical, IntegrationId=match["IntegrationId"])
    return {
        "IntegrationType": match.get("IntegrationType"),
        "IntegrationUri": match.get("IntegrationUri"),
        "PayloadFormatVersion": match.get("PayloadFormatVersion"),
    }


def desired(r: ApiIntegration, ctx: Context) -> dict[str, Any]:
    return r.desired()


def apply(r: ApiIntegration, change: Change, ctx: Context) -> None:
    api = ctx.client("apigatewayv2")
    api_id = ctx.fact(r.api, "ApiId")
    fields = {"IntegrationType": "AWS_PROXY", "IntegrationUri": r.function_arn, "PayloadFormatVersion": "2.0"}
    if change.action == "create":
        created = api.create_integration(ApiId=api_id, **fields)
        ctx.remember(r.logical, IntegrationId=created["IntegrationId"])
        return
    api.update_integration(ApiId=api_id, IntegrationId=ctx.fact(r.logical, "IntegrationId"), **fields)


def delete(r: ApiIntegration, ctx: Context) -> None:
    api_id, integration = ctx.fact(r.api, "ApiId"), ctx.fact(r.logical, "IntegrationId")
    if api_id and integration:
        api = ctx.client("apigatewayv2")
        ignore_missing(lambda: api.delete_integration(ApiId=api_id, IntegrationId=integration), *GONE)


def render(r: ApiIntegration, model: StackModel) -> dict[str, Any]:
    return {
        "ApiId": {"Ref": r.api},
        "IntegrationType": "AWS_PROXY",
        "IntegrationUri": {"Ref": live_alias(r.function)},
        "PayloadFormatVersion": "2.0",
    }


def template_depends(r: ApiIntegration) -> dict[str, set[str]]:
    """It invokes the function's alias, so waits for it."""
    return {r.logical: {live_alias(r.function)}}
