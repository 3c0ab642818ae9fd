"""AWS::ApiGatewayV2::Api: the bookings HTTP API and its `$default` auto-deploying stage (access log,
default route throttling). API ids are assigned by AWS, so the API is found by name; its id is the fact
its integrations, routes, authorizer, permissions and the dashboard use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picops.provision.kinds._common import GONE, ignore_missing, paginated
from picops.stack.model import HttpApi, StackModel

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = HttpApi

DEFAULT_STAGE = "$default"
# The plan fields the stage holds (the rest are the API's own).
STAGE_FIELDS = frozenset(
    {"AutoDeploy", "AccessLogDestination", "ThrottlingRateLimit", "ThrottlingBurstLimit"}
)


def read(r: HttpApi, ctx: Context) -> dict[str, Any] | None:
    api = ctx.client("apigatewayv2")
    found = next((a for a in paginated(api, "get_apis", "Items") if a.get("Name") == r.name), None)
    if found is None:
        return None
    ctx.remember(r.logical, ApiId=found["ApiId"], ApiEndpoint=found.get("ApiEndpoint"))
    stages = paginated(api, "get_stages", "Items", ApiId=found["ApiId"])
    default = next((s for s in stages if s.get("StageName") == DEFAULT_STAGE), None)
    access = (default or {}).get("AccessLogSettings") or {}
    routes = (default or {}).get("DefaultRouteSettings") or {}
    rate = routes.get("ThrottlingRateLimit")
    burst = routes.get("ThrottlingBurstLimit")
    return {
        "ProtocolType": found.get("ProtocolType"),
        "Stage": default["StageName"] if default else None,
        "AutoDeploy": bool(default.get("AutoDeploy")) if default else False,
        "AccessLogDestination": access.get("DestinationArn"),
        "ThrottlingRateLimit": float(rate) if rate is not None else None,
        "ThrottlingBurstLimit": int(burst) if burst is not None else None,
    }


def desired(r: HttpApi, ctx: Context) -> dict[str, Any]:
    return r.desired()


def apply(r: HttpApi, change: Change, ctx: Context) -> None:
    api = ctx.client("apigatewayv2")
    if change.action == "create":
        created = api.create_api(Name=r.name, ProtocolType="HTTP")
        ctx.remember(r.logical, ApiId=created["ApiId"], ApiEndpoint=created.get("ApiEndpoint"))
    api_id = ctx.fact(r.logical, "ApiId")
    stage = {"ApiId": api_id, "StageName": DEFAULT_STAGE, "AutoDeploy": True, **r.stage_settings()}
    if change.action == "create" or (change.live or {}).get("Stage") is None:
        api.create_stage(**stage)
    elif STAGE_FIELDS & set(change.diff):
        if ctx.factory.is_local:
            # The embedded endpoint has no UpdateStage: re-create the stage (it only holds settings).
            api.delete_stage(ApiId=api_id, StageName=DEFAULT_STAGE)
            api.create_stage(**stage)
        else:
            api.update_stage(**stage)


def delete(r: HttpApi, ctx: Context) -> None:
    # Deleting the API deletes its stages, integrations, routes and authorizers with it.
    api_id = ctx.fact(r.logical, "ApiId")
    if api_id:
        api = ctx.client("apigatewayv2")
        ignore_missing(lambda: api.delete_api(ApiId=api_id), *GONE)


def render(r: HttpApi, model: StackModel) -> dict[str, Any]:
    return {"Name": r.name, "ProtocolType": "HTTP"}


def companions(r: HttpApi, model: StackModel) -> dict[str, dict[str, Any]]:
    """The `$default` stage, which CloudFormation makes a resource of its own."""
    stage: dict[str, Any] = {"ApiId": {"Ref": r.logical}, "StageName": DEFAULT_STAGE, "AutoDeploy": True}
    stage.update(r.stage_settings())
    body: dict[str, Any] = {"Type": "AWS::ApiGatewayV2::Stage", "Properties": stage}
    if r.access_log_group:
        body["DependsOn"] = [r.access_log_group]
    return {f"{r.logical}DefaultStage": body}
