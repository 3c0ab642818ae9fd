"""Read the live state of each modelled resource: describe/get/list calls only, never a mutation.

`read(resource, ctx)` returns the resource's fields shaped like `Resource.desired()`, or None when the
resource does not exist. Identifiers AWS assigns (queue URLs, stream ARNs, API ids, mapping UUIDs) are kept
in `ctx.facts` so later resources (and the executor) can use them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from picops.aws import ClientFactory
from picops.config import Settings
from picops.provision import kinds
from picops.provision.kinds._common import paginated
from picops.stack.model import (
    ApiAuthorizer,
    ApiIntegration,
    ApiRoute,
    HttpApi,
    Resource,
    StackModel,
)
from picops.stack.names import StackNames

if TYPE_CHECKING:
    from picops.provision.bundle import Bundle


@dataclass
class Context:
    """Shared by planner, executor, status and destroy for one run."""

    factory: ClientFactory
    model: StackModel
    names: StackNames
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Set by destroy for its run: empty data-holding resources first, and report each emptied page.
    delete_data: bool = False
    on_empty: Callable[[str, int], None] | None = None
    # Set by the executor for its run: what creating or updating a function's code needs.
    settings: Settings | None = None
    bundle: Callable[[], Bundle] | None = None

    def client(self, service: str) -> Any:
        return self.factory.client(service)

    def fact(self, logical: str, key: str) -> Any:
        return self.facts.get(logical, {}).get(key)

    def deploy_inputs(self) -> tuple[Settings, Bundle]:
        if self.settings is None or self.bundle is None:
            raise RuntimeError("a function is applied only by the executor, which sets settings and bundle")
        return self.settings, self.bundle()

    def remember(self, logical: str, **values: Any) -> None:
        self.facts.setdefault(logical, {}).update(values)


def read_api(r: HttpApi, ctx: Context) -> dict[str, Any] | None:
    api = ctx.client("apigatewayv2")
    found = next((a for a in paginated(api, "get_apis", "Items") if a.get("Name") == r.name), None)
    if found is None:
        return None
    ctx.remember(r.logical, ApiId=found["ApiId"], ApiEndpoint=found.get("ApiEndpoint"))
    stages = paginated(api, "get_stages", "Items", ApiId=found["ApiId"])
    default = next((s for s in stages if s.get("StageName") == "$default"), None)
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


def read_authorizer(r: ApiAuthorizer, ctx: Context) -> dict[str, Any] | None:
    api_id = ctx.fact(r.api, "ApiId")
    if not api_id:
        return None
    api = ctx.client("apigatewayv2")
    # The routes name the authorizer they use; the embedded endpoint has no GetAuthorizers, so look there
    # first and list only on real AWS (an authorizer no route uses yet).
    routes = paginated(api, "get_routes", "Items", ApiId=api_id)
    ids = {route.get("AuthorizerId") for route in routes} - {None}
    items = [api.get_authorizer(ApiId=api_id, AuthorizerId=i) for i in sorted(ids)]
    match = next((a for a in items if a.get("Name") == r.name), None)
    if match is None and not ctx.factory.is_local:
        items = paginated(api, "get_authorizers", "Items", ApiId=api_id)
        match = next((a for a in items if a.get("Name") == r.name), None)
    if match is None:
        return None
    ctx.remember(r.logical, AuthorizerId=match["AuthorizerId"])
    jwt = match.get("JwtConfiguration") or {}
    return {
        "AuthorizerType": match.get("AuthorizerType"),
        "IdentitySource": list(match.get("IdentitySource") or []),
        "JwtConfiguration": {"Issuer": jwt.get("Issuer"), "Audience": sorted(jwt.get("Audience") or [])},
    }


def read_integration(r: ApiIntegration, ctx: Context) -> dict[str, Any] | None:
    api_id = ctx.fact(r.api, "ApiId")
    if not api_id:
        return None
    items = paginated(ctx.client("apigatewayv2"), "get_integrations", "Items", ApiId=api_id)
    ours = [i for i in items if i.get("IntegrationType") == "AWS_PROXY"]
    match = next((i for i in ours if i.get("IntegrationUri") == r.function_arn), ours[0] if ours else None)
    if match is None:
        return None
    ctx.remember(r.logical, IntegrationId=match["IntegrationId"])
    return {
        "IntegrationType": match.get("IntegrationType"),
        "IntegrationUri": match.get("IntegrationUri"),
        "PayloadFormatVersion": match.get("PayloadFormatVersion"),
    }


def read_route(r: ApiRoute, ctx: Context) -> dict[str, Any] | None:
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


READERS: dict[type[Resource], Callable[[Any, Context], dict[str, Any] | None]] = {
    HttpApi: read_api,
    ApiIntegration: read_integration,
    ApiRoute: read_route,
    ApiAuthorizer: read_authorizer,
}


def read(resource: Resource, ctx: Context) -> dict[str, Any] | None:
    kind = kinds.kind_of(resource)
    if kind is not None:
        return kind.read(resource, ctx)
    return READERS[type(resource)](resource, ctx)


def resolved_desired(resource: Resource, ctx: Context) -> dict[str, Any]:
    """`desired()` with identifiers only live state knows filled in (stream ARN, API id, integration id)."""
    kind = kinds.kind_of(resource)
    if kind is not None:
        return kind.desired(resource, ctx)
    desired = resource.desired()
    if isinstance(resource, ApiRoute):
        integration = ctx.fact(resource.integration, "IntegrationId")
        desired["Target"] = f"integrations/{integration}" if integration else f"<{resource.integration}>"
        if resource.authorizer:
            authorizer = ctx.fact(resource.authorizer, "AuthorizerId")
            desired["AuthorizerId"] = authorizer or f"<{resource.authorizer}>"
    return desired
