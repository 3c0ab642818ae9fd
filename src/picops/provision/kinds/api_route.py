"""AWS::ApiGatewayV2::Route: one route key (`POST /bookings`) to the API's integration, open or behind
the JWT authorizer. Its target and authorizer are ids AWS assigns, known once those exist."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picops.provision.kinds._common import GONE, ignore_missing, paginated
from picops.stack.model import ApiRoute, StackModel

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = ApiRoute


def read(r: ApiRoute, ctx: Context) -> dict[str, Any] | None:
    api_id = ctx.fact(r.api, "ApiId")
    if not api_id:
        return None
    for route in paginated(ctx.client("apigatewayv2"), "get_routes", "Items", ApiId=api_id):
        if route.get("RouteKey") == r.name:
            ctx.remember(r.logical, RouteId=route["RouteId"])
            out = {
                "RouteKey": route["RouteKey"],
                "Target": route.get("Target"),
                "AuthorizationType": route.get("AuthorizationType") or "NONE",
            }
            if route.get("AuthorizerId"):
                out["AuthorizerId"] = route["AuthorizerId"]
            return out
    return None


def desired(r: ApiRoute, ctx: Context) -> dict[str, Any]:
    fields = r.desired()
    integration = ctx.fact(r.integration, "IntegrationId")
    fields["Target"] = f"integrations/{integration}" if integration else f"<{r.integration}>"
    if r.authorizer:
        fields["AuthorizerId"] = ctx.fact(r.authorizer, "AuthorizerId") or f"<{r.authorizer}>"
    return fields


def apply(r: ApiRoute, change: Change, ctx: Context) -> None:
    api = ctx.client("apigatewayv2")
    api_id = ctx.fact(r.api, "ApiId")
    target = f"integrations/{ctx.fact(r.integration, 'IntegrationId')}"
    auth: dict[str, Any] = {"AuthorizationType": r.authorization_type}
    if r.authorizer:
        auth["AuthorizerId"] = ctx.fact(r.authorizer, "AuthorizerId")
    if change.action == "create":
        created = api.create_route(ApiId=api_id, RouteKey=r.name, Target=target, **auth)
        ctx.remember(r.logical, RouteId=created["RouteId"])
        return
    api.update_route(ApiId=api_id, RouteId=ctx.fact(r.logical, "RouteId"), Target=target, **auth)


def delete(r: ApiRoute, ctx: Context) -> None:
    api_id, route_id = ctx.fact(r.api, "ApiId"), ctx.fact(r.logical, "RouteId")
    if api_id and route_id:
        api = ctx.client("apigatewayv2")
        ignore_missing(lambda: api.delete_route(ApiId=api_id, RouteId=route_id), *GONE)


def render(r: ApiRoute, model: StackModel) -> dict[str, Any]:
    props: dict[str, Any] = {
        "ApiId": {"Ref": r.api},
        "RouteKey": r.name,
        # The integration's id is its Ref: Fn::Sub resolves it.
        "Target": "integrations/${" + r.integration + "}",
        "AuthorizationType": r.authorization_type,
    }
    if r.authorizer:
        props["AuthorizerId"] = {"Ref": r.authorizer}
    return props
