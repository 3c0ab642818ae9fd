"""The stack's saved Logs Insights queries (docs/operating.md, "Saved queries"): created over the right log
groups, re-planned as noop, drift seen in plan and status and put back, destroyed; every call they make is
granted by the operator policy as strict local mode checks it."""

from __future__ import annotations

from typing import Any

import pytest

from picops.aws import ClientFactory
from picops.config import Settings, load_settings
from picops.provision.apply import Executor
from picops.provision.destroy import delete_resource
from picops.provision.plan import Change, Plan, context_for, make_plan
from picops.provision.status import status_document
from picops.stack.build import build_model
from picops.stack.operator_policy import operator_policy
from picops.strict.actions import Request, needs
from picops.strict.policy import Check, Decision, evaluate

QUERIES = ("PhotoNoThumbnailQuery", "BookingHistoryQuery", "ObjectNotTaggedQuery", "StackErrorsQuery")


def _settings() -> Settings:
    return load_settings(overrides={"aws": {"region": "us-east-1"}}, use_files=False)


def _apply(plan: Plan, settings: Settings, logicals: tuple[str, ...]) -> None:
    subset = Plan(plan.ctx, [c for c in plan.changes if c.logical in logicals and c.action != "noop"])
    Executor(subset, settings, lambda: pytest.fail("no bundle for saved queries")).run()


def _changes(plan: Plan) -> dict[str, Change]:
    return {c.logical: c for c in plan.changes if c.logical in QUERIES}


def _saved(aws: ClientFactory) -> dict[str, dict[str, Any]]:
    found = aws.client("logs").describe_query_definitions(queryDefinitionNamePrefix="picops/")
    return {d["name"]: d for d in found["queryDefinitions"]}


def test_saved_queries_are_created_drift_checked_and_destroyed(aws: ClientFactory) -> None:
    settings = _settings()
    plan = make_plan(context_for(settings, aws))
    assert {c.action for c in _changes(plan).values()} == {"create"}
    _apply(plan, settings, QUERIES)

    saved = _saved(aws)
    assert sorted(saved) == [
        "picops/errors-across-the-stack",
        "picops/what-happened-to-booking",
        "picops/why-has-photo-no-thumbnail",
        "picops/why-is-object-not-tagged",
    ]
    booking = saved["picops/what-happened-to-booking"]
    assert 'filter booking_id = "BOOKING_ID"' in booking["queryString"]
    assert sorted(booking["logGroupNames"]) == [
        "/aws/lambda/picops-booking-api",
        "/aws/lambda/picops-inventory",
        "/aws/lambda/picops-outbox-sweep",
        "/aws/lambda/picops-payment",
    ]
    assert saved["picops/why-has-photo-no-thumbnail"]["logGroupNames"] == ["/aws/lambda/picops-ingest"]
    assert len(saved["picops/errors-across-the-stack"]["logGroupNames"]) == 8
    assert {c.action for c in _changes(make_plan(context_for(settings, aws))).values()} == {"noop"}

    # Someone narrows a saved query in the console: drift on the log groups, put back in place (same id).
    photo = saved["picops/why-has-photo-no-thumbnail"]
    aws.client("logs").put_query_definition(
        queryDefinitionId=photo["queryDefinitionId"],
        name=photo["name"],
        queryString=photo["queryString"],
        logGroupNames=[],
    )
    plan = make_plan(context_for(settings, aws))
    change = _changes(plan)["PhotoNoThumbnailQuery"]
    assert change.action == "update"
    assert change.diff == {"LogGroupNames": {"live": [], "desired": ["/aws/lambda/picops-ingest"]}}
    (row,) = [r for r in status_document(plan)["resources"] if r["logical"] == "PhotoNoThumbnailQuery"]
    assert row["status"] == "drifted"
    _apply(plan, settings, ("PhotoNoThumbnailQuery",))
    fixed = _saved(aws)["picops/why-has-photo-no-thumbnail"]
    assert fixed["queryDefinitionId"] == photo["queryDefinitionId"]
    assert fixed["logGroupNames"] == ["/aws/lambda/picops-ingest"]
    assert len(_saved(aws)) == 4

    ctx = context_for(settings, aws)
    for logical in QUERIES:
        delete_resource(ctx.model.get(logical), ctx, delete_data=False)
        delete_resource(ctx.model.get(logical), ctx, delete_data=False)  # already gone: fine
    assert _saved(aws) == {}


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("DescribeQueryDefinitions", {"queryDefinitionNamePrefix": "picops/why-has-photo-no-thumbnail"}),
        ("PutQueryDefinition", {"name": "picops/errors-across-the-stack", "queryString": "fields @message"}),
        ("DeleteQueryDefinition", {"queryDefinitionId": "0b7c3e0e-2a52-4bd7-9c8a-1f7c1d1e9a11"}),
    ],
)
def test_the_operator_policy_grants_every_saved_query_call(operation: str, params: dict[str, Any]) -> None:
    model = build_model(_settings(), "123456789012", "us-east-1")
    policy = operator_policy(model)
    wanted = needs(Request("logs", operation, params, "us-east-1", "123456789012"))
    assert [(n.action, n.resource) for n in wanted] == [(f"logs:{operation}", "*")]
    assert all(evaluate([policy], Check(n.action, n.resource)) is Decision.ALLOW for n in wanted)
