"""Large accounts are read whole: API Gateway and EventBridge listings follow NextToken (Stubber pages)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber

from picops.aws import ClientFactory
from picops.config import AwsSettings, Settings
from picops.provision import live
from picops.provision.kinds import api_authorizer, api_integration, api_route, schedule_rule
from picops.provision.kinds import http_api as http_api_kind
from picops.stack.build import build_model
from picops.stack.model import ApiAuthorizer, ApiIntegration, ApiRoute, HttpApi, ScheduleRule
from picops.stack.names import StackNames

ACCOUNT, REGION = "123456789012", "us-east-1"


def _ctx() -> tuple[live.Context, ClientFactory]:
    settings = Settings()
    model = build_model(settings, ACCOUNT, REGION)
    factory = ClientFactory(AwsSettings(region=REGION))
    return live.Context(factory=factory, model=model, names=StackNames(settings, ACCOUNT, REGION)), factory


def _api(name: str, api_id: str) -> dict[str, Any]:
    return {"Name": name, "ApiId": api_id, "ProtocolType": "HTTP", "RouteSelectionExpression": "$x"}


def test_the_api_on_a_later_page_is_found_with_its_stage_integration_and_route_on_later_pages() -> None:
    ctx, factory = _ctx()
    api = factory.client("apigatewayv2")
    model = ctx.model
    http_api = model.get("BookingsApi")
    integration = model.get("BookingsApiIntegration")
    route = model.get("BookingsApiGetRoute")
    assert isinstance(http_api, HttpApi)
    assert isinstance(integration, ApiIntegration)
    assert isinstance(route, ApiRoute)
    stub = Stubber(api)
    stub.add_response("get_apis", {"Items": [_api("someone-else", "a1")], "NextToken": "t1"}, {})
    stub.add_response("get_apis", {"Items": [_api(http_api.name, "ours")]}, {"NextToken": "t1"})
    stub.add_response("get_stages", {"Items": [{"StageName": "prod"}], "NextToken": "s1"}, {"ApiId": "ours"})
    stub.add_response(
        "get_stages",
        {"Items": [{"StageName": "$default", "AutoDeploy": True}]},
        {"ApiId": "ours", "NextToken": "s1"},
    )
    stub.add_response(
        "get_integrations",
        {"Items": [{"IntegrationId": "i0", "IntegrationType": "HTTP_PROXY"}], "NextToken": "n1"},
        {"ApiId": "ours"},
    )
    stub.add_response(
        "get_integrations",
        {
            "Items": [
                {
                    "IntegrationId": "i1",
                    "IntegrationType": "AWS_PROXY",
                    "IntegrationUri": integration.function_arn,
                    "PayloadFormatVersion": "2.0",
                }
            ]
        },
        {"ApiId": "ours", "NextToken": "n1"},
    )
    stub.add_response(
        "get_routes",
        {"Items": [{"RouteKey": "POST /other", "RouteId": "r0"}], "NextToken": "r1"},
        {"ApiId": "ours"},
    )
    stub.add_response(
        "get_routes",
        {"Items": [{"RouteKey": route.name, "RouteId": "r9", "Target": "integrations/i1"}]},
        {"ApiId": "ours", "NextToken": "r1"},
    )
    with stub:
        found = http_api_kind.read(http_api, ctx)
        assert found is not None
        # the API, its $default stage and what the stage says were all on later pages
        assert {k: found[k] for k in ("ProtocolType", "Stage", "AutoDeploy")} == {
            "ProtocolType": "HTTP",
            "Stage": "$default",
            "AutoDeploy": True,
        }
        assert api_integration.read(integration, ctx)["IntegrationUri"] == integration.function_arn  # type: ignore[index]
        found_route = api_route.read(route, ctx)
        assert found_route is not None
        assert found_route["RouteKey"] == route.name
        assert found_route["Target"] == "integrations/i1"
    stub.assert_no_pending_responses()
    assert ctx.fact("BookingsApiIntegration", "IntegrationId") == "i1"
    assert ctx.fact("BookingsApiGetRoute", "RouteId") == "r9"


def test_rule_targets_on_a_second_page_are_read() -> None:
    ctx, factory = _ctx()
    rule = ctx.model.get("SweepSchedule")
    assert isinstance(rule, ScheduleRule)
    events = factory.client("events")
    stub = Stubber(events)
    stub.add_response(
        "describe_rule",
        {"Name": rule.name, "ScheduleExpression": rule.schedule, "State": "ENABLED"},
        {"Name": rule.name},
    )
    stub.add_response(
        "list_targets_by_rule",
        {"Targets": [{"Id": "other", "Arn": "arn:aws:sqs:us-east-1:123456789012:q"}], "NextToken": "p2"},
        {"Rule": rule.name},
    )
    stub.add_response(
        "list_targets_by_rule",
        {"Targets": [{"Id": rule.target_id, "Arn": rule.target_arn}]},
        {"Rule": rule.name, "NextToken": "p2"},
    )
    with stub:
        found = schedule_rule.read(rule, ctx)
    stub.assert_no_pending_responses()
    assert found is not None
    assert {"Id": rule.target_id, "Arn": rule.target_arn} in found["Targets"]
    assert len(found["Targets"]) == 2


def _authorizer(name: str, authorizer_id: str) -> dict[str, Any]:
    return {
        "Name": name,
        "AuthorizerId": authorizer_id,
        "AuthorizerType": "JWT",
        "IdentitySource": ["$request.header.Authorization"],
        "JwtConfiguration": {"Issuer": "https://issuer.example", "Audience": ["picops"]},
    }


def test_an_authorizer_on_a_later_page_of_routes_or_authorizers_is_found() -> None:
    ctx, factory = _ctx()
    ctx.remember("BookingsApi", ApiId="ours")
    authorizer = ApiAuthorizer(logical="BookingsApiAuthorizer", name="picops-jwt", api="BookingsApi")
    api = factory.client("apigatewayv2")
    stub = Stubber(api)
    # No route names it on either page (not attached yet): the listing of authorizers is read, every page.
    first, then = {"ApiId": "ours"}, {"ApiId": "ours", "NextToken": "p2"}
    stub.add_response(
        "get_routes", {"Items": [{"RouteKey": "GET /x", "RouteId": "r0"}], "NextToken": "p2"}, first
    )
    stub.add_response("get_routes", {"Items": [{"RouteKey": "GET /y", "RouteId": "r1"}]}, then)
    stub.add_response("get_authorizers", {"Items": [_authorizer("other", "a0")], "NextToken": "p2"}, first)
    stub.add_response("get_authorizers", {"Items": [_authorizer("picops-jwt", "a9")]}, then)
    with stub:
        found = api_authorizer.read(authorizer, ctx)
    stub.assert_no_pending_responses()
    assert found is not None
    assert found["AuthorizerType"] == "JWT"
    assert ctx.fact("BookingsApiAuthorizer", "AuthorizerId") == "a9"


def test_a_target_eventbridge_refuses_fails_the_apply_naming_rule_target_and_code() -> None:
    from picops.errors import AwsError
    from picops.provision.kinds.schedule_rule import raise_failed_entries

    raise_failed_entries("picops-sweep", {"FailedEntryCount": 0, "FailedEntries": []})
    answer = {
        "FailedEntryCount": 1,
        "FailedEntries": [
            {"TargetId": "function", "ErrorCode": "ValidationException", "ErrorMessage": "bad target arn"}
        ],
    }
    with pytest.raises(AwsError) as info:
        raise_failed_entries("picops-sweep", answer)
    assert info.value.exit_code == 3
    assert "picops-sweep" in str(info.value)
    assert "target function" in str(info.value)
    assert "ValidationException" in str(info.value)
