"""Concurrency settings and the pipelines dashboard on the real (non-local) provision path, against in-process
moto: created as modelled, drift detected field by field, converged, destroyed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from picops.aws import ClientFactory
from picops.config import Settings, load_settings
from picops.provision.apply import Executor
from picops.provision.bundle import Bundle, build_bundle
from picops.provision.destroy import delete_resource
from picops.provision.plan import Change, Plan, context_for, make_plan
from picops.provision.status import status_document
from tests.deploy_support import CallCounter, bundle_settings, create_roles


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ops-cache")


@pytest.fixture(scope="module")
def bundle(cache: Path) -> Bundle:
    return build_bundle(bundle_settings(cache), out_dir=cache / "bundle")


def _settings(cache: Path, **sections: dict[str, Any]) -> Settings:
    base = bundle_settings(cache)
    overrides: dict[str, Any] = {"aws": {"region": "us-east-1"}}
    overrides["deploy"] = base.deploy.model_dump(mode="json") | sections.pop("deploy", {})
    return load_settings(overrides={**overrides, **sections}, use_files=False)


def _no_bundle() -> Bundle:
    raise AssertionError("the bundle must not be built for this change")


def _apply(plan: Plan, settings: Settings, logicals: tuple[str, ...], bundle: Any = _no_bundle) -> Plan:
    subset = Plan(plan.ctx, [c for c in plan.changes if c.logical in logicals and c.action != "noop"])
    Executor(subset, settings, lambda: bundle if isinstance(bundle, Bundle) else bundle()).run()
    return subset


def _changes(plan: Plan, *logicals: str) -> dict[str, Change]:
    return {c.logical: c for c in plan.changes if c.logical in logicals}


INGEST = ("IngestDLQ", "IngestQueue", "IngestFunctionLogGroup", "IngestFunction", "IngestFunctionMapping")
STREAM = (
    "ModerationTable",
    "ModerationStreamFunctionLogGroup",
    "ModerationStreamFunction",
    "ModerationStreamFunctionMapping",
)


def test_mappings_get_their_caps_and_parallelization_and_converge(
    aws: ClientFactory, cache: Path, bundle: Bundle
) -> None:
    settings = _settings(cache, ingest={"max_concurrency": 7}, moderation={"parallelization_factor": 2})
    plan = make_plan(context_for(settings, aws))
    create_roles(aws, [f for f in plan.model.functions() if f.logical in INGEST + STREAM])
    _apply(plan, settings, INGEST + STREAM, bundle)

    lam = aws.client("lambda")
    ingest = lam.list_event_source_mappings(FunctionName="picops-ingest:live")["EventSourceMappings"]
    assert [m["ScalingConfig"] for m in ingest] == [{"MaximumConcurrency": 7}]
    stream = lam.list_event_source_mappings(FunctionName="picops-moderation-stream:live")[
        "EventSourceMappings"
    ]
    assert [m["ParallelizationFactor"] for m in stream] == [2]

    again = _changes(
        make_plan(context_for(settings, aws)), "IngestFunctionMapping", "ModerationStreamFunctionMapping"
    )
    assert {c.action for c in again.values()} == {"noop"}

    # A changed setting is planned as an in-place update of just that field, then converges.
    raised = _settings(cache, ingest={"max_concurrency": 12}, moderation={"parallelization_factor": 2})
    plan = make_plan(context_for(raised, aws))
    change = _changes(plan, "IngestFunctionMapping")["IngestFunctionMapping"]
    assert change.action == "update"
    assert change.diff == {
        "ScalingConfig": {"live": {"MaximumConcurrency": 7}, "desired": {"MaximumConcurrency": 12}}
    }
    _apply(plan, raised, ("IngestFunctionMapping",))
    (mapping,) = lam.list_event_source_mappings(FunctionName="picops-ingest:live")["EventSourceMappings"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 12}
    assert (
        _changes(make_plan(context_for(raised, aws)), "IngestFunctionMapping")["IngestFunctionMapping"].action
        == "noop"
    )


def test_reserved_concurrency_is_put_drift_checked_and_removed_without_redeploying(
    aws: ClientFactory, cache: Path, bundle: Bundle
) -> None:
    reserved = _settings(cache, deploy={"functions": {"PaymentFunction": {"reserved_concurrency": 15}}})
    plan = make_plan(context_for(reserved, aws))
    create_roles(aws, [f for f in plan.model.functions() if f.logical == "PaymentFunction"])
    _apply(plan, reserved, ("PaymentFunctionLogGroup", "PaymentFunction"), bundle)
    lam = aws.client("lambda")
    assert lam.get_function_concurrency(FunctionName="picops-payment")["ReservedConcurrentExecutions"] == 15
    assert (
        _changes(make_plan(context_for(reserved, aws)), "PaymentFunction")["PaymentFunction"].action == "noop"
    )

    # Someone changes it in the console: drift on that one field.
    lam.put_function_concurrency(FunctionName="picops-payment", ReservedConcurrentExecutions=3)
    change = _changes(make_plan(context_for(reserved, aws)), "PaymentFunction")["PaymentFunction"]
    assert change.action == "update"
    assert change.diff == {"ReservedConcurrentExecutions": {"live": 3, "desired": 15}}

    # Unset in the config: the reservation is deleted, and nothing else about the function is touched.
    unreserved = _settings(cache)
    plan = make_plan(context_for(unreserved, aws))
    counter = CallCounter()
    counter.attach(aws.client("lambda"))
    _apply(plan, unreserved, ("PaymentFunction",))
    assert counter["DeleteFunctionConcurrency"] == 1
    assert not {"UpdateFunctionCode", "UpdateFunctionConfiguration", "PublishVersion"} & set(counter.calls)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName="picops-payment")
    assert (
        _changes(make_plan(context_for(unreserved, aws)), "PaymentFunction")["PaymentFunction"].action
        == "noop"
    )


def test_dashboard_is_created_with_the_api_id_drift_is_seen_and_destroy_removes_it(
    aws: ClientFactory, cache: Path
) -> None:
    settings = _settings(cache)
    plan = make_plan(context_for(settings, aws))
    assert _changes(plan, "PipelinesDashboard")["PipelinesDashboard"].action == "create"
    _apply(plan, settings, ("BookingsApi", "PipelinesDashboard"))

    cloudwatch = aws.client("cloudwatch")
    api_id = aws.client("apigatewayv2").get_apis()["Items"][0]["ApiId"]
    body = cloudwatch.get_dashboard(DashboardName="picops-pipelines")["DashboardBody"]
    assert "${BookingsApi}" not in body
    api_lines = [
        line
        for widget in json.loads(body)["widgets"]
        for line in widget.get("properties", {}).get("metrics", [])
        if line[0] == "AWS/ApiGateway"
    ]
    assert api_lines
    assert all(line[3] == api_id for line in api_lines)

    ctx = context_for(settings, aws)
    assert _changes(make_plan(ctx), "PipelinesDashboard")["PipelinesDashboard"].action == "noop"

    # Edited by hand in the console: drift, and provision puts the modelled body back.
    cloudwatch.put_dashboard(DashboardName="picops-pipelines", DashboardBody=json.dumps({"widgets": []}))
    plan = make_plan(context_for(settings, aws))
    assert _changes(plan, "PipelinesDashboard")["PipelinesDashboard"].action == "update"
    (row,) = [r for r in status_document(plan)["resources"] if r["logical"] == "PipelinesDashboard"]
    assert row["status"] == "drifted"
    # The body is thousands of characters: the detail names the field and shows the start of each value.
    assert row["detail"].startswith("DashboardBody: live {'widgets': []}, desired {")
    assert len(row["detail"]) < 400
    _apply(plan, settings, ("PipelinesDashboard",))
    assert (
        _changes(make_plan(context_for(settings, aws)), "PipelinesDashboard")["PipelinesDashboard"].action
        == "noop"
    )

    ctx = context_for(settings, aws)
    make_plan(ctx)
    delete_resource(ctx.model.get("PipelinesDashboard"), ctx, delete_data=False)
    assert cloudwatch.list_dashboards()["DashboardEntries"] == []
    delete_resource(ctx.model.get("PipelinesDashboard"), ctx, delete_data=False)  # already gone: fine


def test_status_gives_the_dashboard_console_url_on_aws(aws: ClientFactory, cli: Any) -> None:
    result = cli("--region", "us-east-1", "status", "--json")
    assert result.exit_code == 1  # nothing provisioned: every resource missing
    url = "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/"
    assert result.json()["dashboard_url"] == url + "picops-pipelines"
    human = cli("--region", "us-east-1", "status")
    assert f"dashboard: {url}picops-pipelines" in human.stdout.replace("\n", "")
