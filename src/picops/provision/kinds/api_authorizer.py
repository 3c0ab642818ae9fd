"""AWS::ApiGatewayV2::Authorizer: the HTTP API's JWT authorizer (`[bookings] authorizer = "jwt"`), found
by name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picops.provision.kinds._common import GONE, ignore_missing, paginated
from picops.stack.model import ApiAuthorizer, StackModel

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = ApiAuthorizer


def _find(r: ApiAuthorizer, api_id: str, ctx: Context) -> dict[str, Any] | None:
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
    return match


def read(r: ApiAuthorizer, ctx: Context) -> dict[str, Any] | None:
    api_id = ctx.fact(r.api, "ApiId")
    if not api_id:
        return None
    match = _find(r, api_id, ctx)
    if match is None:
        return None
    ctx.remember(r.logical, AuthorizerId=match["AuthorizerId"])
    jwt = match.get("JwtConfiguration") or {}
    return {
        "AuthorizerType": match.get("AuthorizerType"),
        "IdentitySource": list(match.get("IdentitySource") or []),
        "JwtConfiguration": {"Issuer": jwt.get("Issuer"), "Audience": sorted(jwt.get("Audience") or [])},
    }


def desired(r: ApiAuthorizer, ctx: Context) -> dict[str, Any]:
    return r.desired()


def _fields(r: ApiAuthorizer) -> dict[str, Any]:
    return {
        "AuthorizerType": "JWT",
        "IdentitySource": [r.identity_source],
        "JwtConfiguration": {"Issuer": r.issuer, "Audience": list(r.audience)},
        "Name": r.name,
    }


def apply(r: ApiAuthorizer, change: Change, ctx: Context) -> None:
    api = ctx.client("apigatewayv2")
    api_id = ctx.fact(r.api, "ApiId")
    if change.action == "create":
        created = api.create_authorizer(ApiId=api_id, **_fields(r))
        ctx.remember(r.logical, AuthorizerId=created["AuthorizerId"])
        return
    api.update_authorizer(ApiId=api_id, AuthorizerId=ctx.fact(r.logical, "AuthorizerId"), **_fields(r))


def delete(r: ApiAuthorizer, ctx: Context) -> None:
    api_id, authorizer = ctx.fact(r.api, "ApiId"), ctx.fact(r.logical, "AuthorizerId")
    if api_id and authorizer:
        api = ctx.client("apigatewayv2")
        ignore_missing(lambda: api.delete_authorizer(ApiId=api_id, AuthorizerId=authorizer), *GONE)


def render(r: ApiAuthorizer, model: StackModel) -> dict[str, Any]:
    fields = _fields(r)
    return {"ApiId": {"Ref": r.api}, "Name": fields.pop("Name"), **fields}
