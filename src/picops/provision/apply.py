"""The executor: the only code that changes the stack. Runs a plan's changes in dependency order.

Every step is driven by the plan's field diff against live state, so re-running after an interruption simply
plans what is still missing or different and converges; a plan of `noop`s makes no mutating call at all.
Resources that hold data (buckets, tables, queues) are never replaced automatically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from picops.config import Settings
from picops.errors import UsageError
from picops.provision import kinds, live
from picops.provision.bundle import Bundle
from picops.provision.plan import Change, Plan
from picops.stack.model import (
    ApiAuthorizer,
    ApiIntegration,
    ApiRoute,
    HttpApi,
    Resource,
)

Progress = Callable[[Change, str], None]


class Executor:
    def __init__(self, plan: Plan, settings: Settings, bundle: Callable[[], Bundle]) -> None:
        self.plan = plan
        self.settings = settings
        self._bundle_source = bundle
        self._bundle: Bundle | None = None
        # The plan's facts, plus what a function's apply needs.
        self.ctx = replace(plan.ctx, settings=settings, bundle=self.bundle)

    def bundle(self) -> Bundle:
        # Built once, and only when a function is created or updated.
        if self._bundle is None:
            self._bundle = self._bundle_source()
        return self._bundle

    def run(self, on_progress: Progress | None = None) -> list[Change]:
        refused = [c for c in self.plan.pending if c.action == "replace" and c.resource.HOLDS_DATA]
        if refused:
            listed = "; ".join(f"{c.logical}: {', '.join(c.diff)}" for c in refused)
            raise UsageError(
                f"these resources hold data and would have to be replaced: {listed}",
                hint="picops never replaces data-bearing resources: migrate the data, `picops destroy` "
                "them (with --delete-data), then provision again",
            )
        done = []
        for change in self.plan.pending:
            if on_progress:
                on_progress(change, "start")
            self.apply(change)
            done.append(change)
            if on_progress:
                on_progress(change, "done")
        return done

    def apply(self, change: Change) -> None:
        resource = change.resource
        if change.action == "replace":
            destroy_one(resource, self.ctx)
            change = Change(resource, "create")
        kind = kinds.kind_of(resource)
        if kind is not None:
            kind.apply(resource, change, self.ctx)
            return
        handler = getattr(self, f"_{type(resource).__name__.lower()}")
        handler(resource, change)

    # -- API -------------------------------------------------------------------------------------------------
    def _httpapi(self, r: HttpApi, change: Change) -> None:
        api = self.ctx.client("apigatewayv2")
        if change.action == "create":
            created = api.create_api(Name=r.name, ProtocolType="HTTP")
            self.ctx.remember(r.logical, ApiId=created["ApiId"], ApiEndpoint=created.get("ApiEndpoint"))
        api_id = self.ctx.fact(r.logical, "ApiId")
        settings = r.stage_settings()
        stage_fields = {"AutoDeploy", "AccessLogDestination", "ThrottlingRateLimit", "ThrottlingBurstLimit"}
        if change.action == "create" or (change.live or {}).get("Stage") is None:
            api.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True, **settings)
        elif stage_fields & set(change.diff):
            if self.ctx.factory.is_local:
                # The embedded endpoint has no UpdateStage: re-create the stage (it only holds settings).
                api.delete_stage(ApiId=api_id, StageName="$default")
                api.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True, **settings)
            else:
                api.update_stage(ApiId=api_id, StageName="$default", AutoDeploy=True, **settings)

    def _apiauthorizer(self, r: ApiAuthorizer, change: Change) -> None:
        api = self.ctx.client("apigatewayv2")
        api_id = self.ctx.fact(r.api, "ApiId")
        fields: dict[str, Any] = {
            "AuthorizerType": "JWT",
            "IdentitySource": [r.identity_source],
            "JwtConfiguration": {"Issuer": r.issuer, "Audience": list(r.audience)},
            "Name": r.name,
        }
        if change.action == "create":
            created = api.create_authorizer(ApiId=api_id, **fields)
            self.ctx.remember(r.logical, AuthorizerId=created["AuthorizerId"])
            return
        api.update_authorizer(ApiId=api_id, AuthorizerId=self.ctx.fact(r.logical, "AuthorizerId"), **fields)

    def _apiintegration(self, r: ApiIntegration, change: Change) -> None:
        api = self.ctx.client("apigatewayv2")
        api_id = self.ctx.fact(r.api, "ApiId")
        fields = {
            "IntegrationType": "AWS_PROXY",
            "IntegrationUri": r.function_arn,
            "PayloadFormatVersion": "2.0",
        }
        if change.action == "create":
            created = api.create_integration(ApiId=api_id, **fields)
            self.ctx.remember(r.logical, IntegrationId=created["IntegrationId"])
            return
        api.update_integration(
            ApiId=api_id, IntegrationId=self.ctx.fact(r.logical, "IntegrationId"), **fields
        )

    def _apiroute(self, r: ApiRoute, change: Change) -> None:
        api = self.ctx.client("apigatewayv2")
        api_id = self.ctx.fact(r.api, "ApiId")
        target = f"integrations/{self.ctx.fact(r.integration, 'IntegrationId')}"
        auth: dict[str, Any] = {"AuthorizationType": r.authorization_type}
        if r.authorizer:
            auth["AuthorizerId"] = self.ctx.fact(r.authorizer, "AuthorizerId")
        if change.action == "create":
            created = api.create_route(ApiId=api_id, RouteKey=r.name, Target=target, **auth)
            self.ctx.remember(r.logical, RouteId=created["RouteId"])
            return
        api.update_route(ApiId=api_id, RouteId=self.ctx.fact(r.logical, "RouteId"), Target=target, **auth)


def destroy_one(resource: Resource, ctx: live.Context) -> None:
    """Delete one resource (used for `replace`); full teardown lives in `picops.provision.destroy`."""
    from picops.provision.destroy import delete_resource

    delete_resource(resource, ctx, delete_data=False)


def apply_plan(
    plan: Plan,
    settings: Settings,
    bundle: Callable[[], Bundle],
    on_progress: Progress | None = None,
) -> list[Change]:
    return Executor(plan, settings, bundle).run(on_progress)


__all__ = ["Executor", "apply_plan"]
