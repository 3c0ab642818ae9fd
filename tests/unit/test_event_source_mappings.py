"""The real (non-local) event source mapping path, against the exact requests Lambda would see (Stubber):
read, create, update of an existing mapping, FunctionResponseTypes and the batching window; and the
combinations preflight refuses because CreateEventSourceMapping would."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from botocore.stub import Stubber

from picops.aws import ClientFactory
from picops.config import AwsSettings, Settings
from picops.provision import live
from picops.provision.apply import Executor
from picops.provision.plan import Change, Plan, plan_resource
from picops.provision.preflight import check_model
from picops.stack.build import build_model
from picops.stack.model import EventSourceMapping, Queue, StackModel
from picops.stack.names import StackNames

ACCOUNT = "123456789012"
REGION = "eu-west-1"
U1 = "11111111-1111-1111-1111-111111111111"
U2 = "22222222-2222-2222-2222-222222222222"


def _model(**sections: dict[str, Any]) -> StackModel:
    return build_model(Settings(**sections), ACCOUNT, REGION, local=False)  # type: ignore[arg-type]


def _ctx(model: StackModel, settings: Settings) -> tuple[live.Context, Any]:
    factory = ClientFactory(AwsSettings(region=REGION))
    ctx = live.Context(factory=factory, model=model, names=StackNames(settings, ACCOUNT, REGION))
    return ctx, factory.client("lambda")


def _mapping(model: StackModel, logical: str) -> EventSourceMapping:
    mapping = model.get(logical)
    assert isinstance(mapping, EventSourceMapping)
    return mapping


def _live_mapping(mapping: EventSourceMapping, **fields: Any) -> dict[str, Any]:
    return {
        "UUID": U1,
        "EventSourceArn": mapping.source_arn,
        "FunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{mapping.qualified_function}",
        "BatchSize": mapping.batch_size,
        "MaximumBatchingWindowInSeconds": 0,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "State": "Enabled",
        **(
            {"ScalingConfig": {"MaximumConcurrency": mapping.max_concurrency}}
            if mapping.max_concurrency
            else {}
        ),
        **fields,
    }


def test_ingest_mapping_is_created_with_batch_window_and_partial_failures() -> None:
    settings = Settings(ingest={"batch_size": 100, "batch_window_s": 5})  # type: ignore[arg-type]
    model = build_model(settings, ACCOUNT, REGION)
    mapping = _mapping(model, "IngestFunctionMapping")
    ctx, lam = _ctx(model, settings)
    stub = Stubber(lam)
    stub.add_response(
        "list_event_source_mappings",
        {"EventSourceMappings": []},
        {
            "FunctionName": "picops-ingest:live",
            "EventSourceArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:picops-ingest",
        },
    )
    stub.add_response(
        "create_event_source_mapping",
        {"UUID": U2},
        {
            "EventSourceArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:picops-ingest",
            "FunctionName": "picops-ingest:live",
            "BatchSize": 100,
            "MaximumBatchingWindowInSeconds": 5,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "Enabled": True,
            "ScalingConfig": {"MaximumConcurrency": 10},
        },
    )
    with stub:
        change = plan_resource(mapping, ctx)
        assert change.action == "create"
        Executor(Plan(ctx, [change]), settings, bundle=lambda: None).apply(change)  # type: ignore[arg-type,return-value]
    stub.assert_no_pending_responses()
    assert ctx.fact("IngestFunctionMapping", "UUID") == U2


def test_an_existing_mapping_with_another_batch_and_window_is_updated_in_place() -> None:
    settings = Settings(ingest={"batch_size": 50, "batch_window_s": 2})  # type: ignore[arg-type]
    model = build_model(settings, ACCOUNT, REGION)
    mapping = _mapping(model, "IngestFunctionMapping")
    ctx, lam = _ctx(model, settings)
    stub = Stubber(lam)
    stub.add_response(
        "list_event_source_mappings",
        {"EventSourceMappings": [_live_mapping(mapping, BatchSize=10, FunctionResponseTypes=[])]},
        {"FunctionName": "picops-ingest:live", "EventSourceArn": mapping.source_arn},
    )
    stub.add_response(
        "update_event_source_mapping",
        {"UUID": U1},
        {
            "UUID": U1,
            "FunctionName": "picops-ingest:live",
            "BatchSize": 50,
            "MaximumBatchingWindowInSeconds": 2,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "Enabled": True,
            "ScalingConfig": {"MaximumConcurrency": 10},
        },
    )
    with stub:
        change = plan_resource(mapping, ctx)
        assert change.action == "update"
        assert set(change.diff) == {"BatchSize", "MaximumBatchingWindowInSeconds", "FunctionResponseTypes"}
        Executor(Plan(ctx, [change]), settings, bundle=lambda: None).apply(change)  # type: ignore[arg-type,return-value]
    stub.assert_no_pending_responses()


def test_a_mapping_that_matches_is_a_noop_and_fifo_mappings_send_no_window() -> None:
    settings = Settings()
    model = build_model(settings, ACCOUNT, REGION)
    ctx, lam = _ctx(model, settings)
    ingest = _mapping(model, "IngestFunctionMapping")
    inventory = _mapping(model, "InventoryFunctionMapping")
    assert inventory.batching_window_s is None
    assert "MaximumBatchingWindowInSeconds" not in inventory.desired()
    stub = Stubber(lam)
    stub.add_response(
        "list_event_source_mappings",
        {"EventSourceMappings": [_live_mapping(ingest)]},
        {"FunctionName": "picops-ingest:live", "EventSourceArn": ingest.source_arn},
    )
    stub.add_response(
        "list_event_source_mappings",
        {"EventSourceMappings": []},
        {"FunctionName": "picops-inventory:live", "EventSourceArn": inventory.source_arn},
    )
    stub.add_response(
        "create_event_source_mapping",
        {"UUID": U2},
        {
            "EventSourceArn": inventory.source_arn,
            "FunctionName": "picops-inventory:live",
            "BatchSize": 10,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "Enabled": True,
            "ScalingConfig": {"MaximumConcurrency": 10},
        },
    )
    with stub:
        assert plan_resource(ingest, ctx).action == "noop"
        change = plan_resource(inventory, ctx)
        Executor(Plan(ctx, [change]), settings, bundle=lambda: None).apply(change)  # type: ignore[arg-type,return-value]
    stub.assert_no_pending_responses()


def test_stream_mapping_create_carries_its_retry_and_failure_destination() -> None:
    settings = Settings()
    model = build_model(settings, ACCOUNT, REGION)
    mapping = _mapping(model, "ModerationStreamFunctionMapping")
    ctx, lam = _ctx(model, settings)
    stream_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/picops-moderation/stream/2026-01-01T00:00:00.000"
    ctx.remember("ModerationTable", StreamArn=stream_arn)
    stub = Stubber(lam)
    stub.add_response(
        "create_event_source_mapping",
        {"UUID": U2},
        {
            "EventSourceArn": stream_arn,
            "FunctionName": "picops-moderation-stream:live",
            "BatchSize": 100,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "Enabled": True,
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": 3,
            "ParallelizationFactor": 1,
            "DestinationConfig": {
                "OnFailure": {"Destination": f"arn:aws:sns:{REGION}:{ACCOUNT}:picops-alerts"}
            },
            "StartingPosition": "LATEST",
        },
    )
    with stub:
        change = Change(mapping, "create")
        Executor(Plan(ctx, [change]), settings, bundle=lambda: None).apply(change)  # type: ignore[arg-type,return-value]
    stub.assert_no_pending_responses()


# -- preflight: what CreateEventSourceMapping would refuse ------------------------------------------------


def test_standard_batch_over_10_without_a_window_is_refused() -> None:
    problems = check_model(_model(ingest={"batch_size": 500}))
    assert any("IngestFunctionMapping" in p and "batch_window_s" in p for p in problems), problems
    assert not [
        p for p in check_model(_model(ingest={"batch_size": 500, "batch_window_s": 1})) if "Mapping" in p
    ]
    assert not [p for p in check_model(_model(ingest={"batch_size": 10})) if "Mapping" in p]


def test_fifo_batch_over_10_or_with_a_window_is_refused() -> None:
    model = _model()
    mapping = _mapping(model, "PaymentFunctionMapping")
    source = model.get("PaymentQueue")
    assert isinstance(source, Queue)
    assert source.fifo
    for changed, fragment in (
        (dataclasses.replace(mapping, batch_size=11), "at most 10"),
        (dataclasses.replace(mapping, batching_window_s=5), "no batching window"),
    ):
        swapped = StackModel(
            model.stack,
            model.account,
            model.region,
            model.local,
            tuple(changed if r.logical == mapping.logical else r for r in model.resources),
        )
        assert any(fragment in p for p in check_model(swapped)), fragment


def test_ingest_queue_visibility_covers_six_timeouts_plus_the_window() -> None:
    model = _model(ingest={"batch_size": 100, "batch_window_s": 20})
    queue = model.get("IngestQueue")
    function = model.get("IngestFunction")
    assert isinstance(queue, Queue)
    assert queue.visibility_timeout_s == 6 * function.timeout_s + 20  # type: ignore[attr-defined]
    assert not check_model(model)


@pytest.mark.parametrize("window", [-1, 301])
def test_window_outside_lambdas_range_is_a_config_error(window: int) -> None:
    from picops.config import load_settings
    from picops.errors import ConfigError

    with pytest.raises(ConfigError, match="batch_window_s"):
        load_settings(overrides={"ingest": {"batch_window_s": window}}, use_files=False)
