"""The sweeper's asynchronous invoke configuration on the real (non-local) provision path, against in-process
moto: created with SweepDLQ as its on-failure destination, shown ok by status, drift found and put back,
deleted by destroy."""

from __future__ import annotations

from pathlib import Path

import pytest

from picops.aws import ClientFactory
from picops.config import Settings, load_settings
from picops.provision.apply import Executor
from picops.provision.bundle import Bundle, build_bundle
from picops.provision.destroy import delete_resource
from picops.provision.plan import Change, Plan, context_for, make_plan
from picops.provision.status import status_document
from tests.deploy_support import bundle_settings, create_roles

SWEEP = (
    "SweepDLQ",
    "ModerationSweepFunctionLogGroup",
    "ModerationSweepFunction",
    "ModerationSweepFunctionInvokeConfig",
)
CONFIG = "ModerationSweepFunctionInvokeConfig"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sweep-cache")


@pytest.fixture(scope="module")
def bundle(cache: Path) -> Bundle:
    return build_bundle(bundle_settings(cache), out_dir=cache / "bundle")


def _settings(cache: Path) -> Settings:
    base = bundle_settings(cache)
    overrides = {"aws": {"region": "us-east-1"}, "deploy": base.deploy.model_dump(mode="json")}
    return load_settings(overrides=overrides, use_files=False)


def _change(plan: Plan) -> Change:
    return next(c for c in plan.changes if c.logical == CONFIG)


def _apply(plan: Plan, settings: Settings, bundle: Bundle) -> None:
    subset = Plan(plan.ctx, [c for c in plan.changes if c.logical in SWEEP and c.action != "noop"])
    Executor(subset, settings, lambda: bundle).run()


def test_sweep_failures_go_to_sweep_dlq_and_the_config_converges(
    aws: ClientFactory, cache: Path, bundle: Bundle
) -> None:
    settings = _settings(cache)
    plan = make_plan(context_for(settings, aws))
    assert _change(plan).action == "create"
    create_roles(aws, [f for f in plan.model.functions() if f.logical in SWEEP])
    _apply(plan, settings, bundle)

    lam = aws.client("lambda")
    dlq_arn = plan.ctx.names.arn("SweepDLQ")
    config = lam.get_function_event_invoke_config(FunctionName="picops-moderation-sweep", Qualifier="live")
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == dlq_arn
    assert config["MaximumRetryAttempts"] == 2
    assert config["MaximumEventAgeInSeconds"] == 3600

    again = make_plan(context_for(settings, aws))
    assert _change(again).action == "noop", _change(again).diff
    (row,) = [r for r in status_document(again)["resources"] if r["logical"] == CONFIG]
    assert (row["type"], row["status"]) == ("AWS::Lambda::EventInvokeConfig", "ok")

    # Drift: someone drops the destination; the plan names the field and applying puts it back.
    lam.delete_function_event_invoke_config(FunctionName="picops-moderation-sweep", Qualifier="live")
    lam.put_function_event_invoke_config(
        FunctionName="picops-moderation-sweep",
        Qualifier="live",
        MaximumRetryAttempts=2,
        MaximumEventAgeInSeconds=3600,
    )
    drifted = make_plan(context_for(settings, aws))
    assert (_change(drifted).action, set(_change(drifted).diff)) == ("update", {"OnFailureDestination"})
    _apply(drifted, settings, bundle)
    assert _change(make_plan(context_for(settings, aws))).action == "noop"

    # Destroy removes it, and removing it twice is not an error (an interrupted destroy re-runs).
    resource = _change(drifted).resource
    delete_resource(resource, drifted.ctx, delete_data=False)
    delete_resource(resource, drifted.ctx, delete_data=False)
    assert _change(make_plan(context_for(settings, aws))).action == "create"
