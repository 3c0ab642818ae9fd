"""Operating the pipelines, in the model and the export: concurrency settings, the pipelines dashboard, and
alarms that say what they mean and what to run first. No AWS."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from picops.config import load_settings
from picops.errors import ConfigError
from picops.provision.cloudformation import render, template_model
from picops.stack.build import build_model
from picops.stack.builders.operations import dashboard_name, dashboard_url
from picops.stack.metrics import HANDLER_METRICS, NAMESPACE
from picops.stack.model import HANDLERS, Alarm, Dashboard, EventSourceMapping, FunctionSpec, StackModel
from picops.stack.names import DLQ_SOURCES

ACCOUNT, REGION = "123456789012", "eu-west-1"
SQS_MAPPINGS = ("IngestFunctionMapping", "InventoryFunctionMapping", "PaymentFunctionMapping")
# Command groups and commands of the CLI (docs/cli.md) an alarm may tell people to run.
CONTRACT_COMMANDS = {"provision", "deploy", "status", "destroy", "tag-backfill", "dlq", "ingest", "bookings"}
CONTRACT_COMMANDS |= {"invoke", "events", "logs", "local", "demo"}


def _settings(**sections: dict[str, Any]) -> Any:
    return load_settings(overrides=sections, use_files=False)


def _model(**sections: dict[str, Any]) -> StackModel:
    return build_model(_settings(**sections), ACCOUNT, REGION)


def _mapping(model: StackModel, logical: str) -> EventSourceMapping:
    mapping = model.get(logical)
    assert isinstance(mapping, EventSourceMapping)
    return mapping


def _function(model: StackModel, logical: str) -> FunctionSpec:
    function = model.get(logical)
    assert isinstance(function, FunctionSpec)
    return function


def _dashboard(model: StackModel) -> tuple[Dashboard, dict[str, Any]]:
    (dashboard,) = model.of_type(Dashboard)
    return dashboard, json.loads(dashboard.body)


# -- concurrency ---------------------------------------------------------------------------------------------


def test_sqs_mappings_are_capped_at_ten_by_default_and_the_stream_keeps_one_batch_per_shard() -> None:
    model = _model()
    for logical in SQS_MAPPINGS:
        assert _mapping(model, logical).desired()["ScalingConfig"] == {"MaximumConcurrency": 10}
        assert "ParallelizationFactor" not in _mapping(model, logical).desired()
    stream = _mapping(model, "ModerationStreamFunctionMapping").desired()
    assert stream["ParallelizationFactor"] == 1
    assert "ScalingConfig" not in stream  # Lambda has no ScalingConfig for stream sources


def test_concurrency_settings_reach_their_mappings() -> None:
    model = _model(
        ingest={"max_concurrency": 25},
        bookings={"max_concurrency": 4},
        moderation={"parallelization_factor": 3},
    )
    assert _mapping(model, "IngestFunctionMapping").desired()["ScalingConfig"] == {"MaximumConcurrency": 25}
    for logical in ("InventoryFunctionMapping", "PaymentFunctionMapping"):
        assert _mapping(model, logical).desired()["ScalingConfig"] == {"MaximumConcurrency": 4}
    assert _mapping(model, "ModerationStreamFunctionMapping").desired()["ParallelizationFactor"] == 3


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("ingest", "max_concurrency", 1),  # Lambda's minimum is 2
        ("ingest", "max_concurrency", 1001),
        ("bookings", "max_concurrency", 0),
        ("moderation", "parallelization_factor", 0),
        ("moderation", "parallelization_factor", 11),
    ],
)
def test_out_of_range_concurrency_settings_are_config_errors(section: str, key: str, value: int) -> None:
    with pytest.raises(ConfigError, match=f"{section}.{key}") as info:
        _settings(**{section: {key: value}})
    assert info.value.exit_code == 2


def test_reserved_concurrency_is_per_function_and_unset_by_default() -> None:
    assert all(f.desired()["ReservedConcurrentExecutions"] is None for f in _model().functions())
    model = _model(deploy={"functions": {"PaymentFunction": {"reserved_concurrency": 20}}})
    reserved = {f.logical: f.desired()["ReservedConcurrentExecutions"] for f in model.functions()}
    assert reserved == {fn: (20 if fn == "PaymentFunction" else None) for fn in HANDLERS}
    with pytest.raises(ConfigError, match="reserved_concurrency"):
        _settings(deploy={"functions": {"PaymentFunction": {"reserved_concurrency": -1}}})


def test_concurrency_settings_reach_the_handlers_environment_as_their_sections_do() -> None:
    env = _function(_model(ingest={"max_concurrency": 25}), "IngestFunction").env
    assert env["PICOPS_INGEST__MAX_CONCURRENCY"] == "25"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE
    assert env["POWERTOOLS_SERVICE_NAME"] == "picops"


# -- alarms --------------------------------------------------------------------------------------------------


def test_every_alarm_notifies_alerts_and_says_what_it_means_and_what_to_run_first() -> None:
    model = _model()
    alerts = model.get("AlertsTopic")
    alarms = model.of_type(Alarm)
    assert alarms
    for alarm in alarms:
        desired = alarm.desired()
        assert desired["AlarmActions"] == [f"arn:aws:sns:{REGION}:{ACCOUNT}:{alerts.name}"], alarm.logical
        description = desired["AlarmDescription"]
        assert 40 < len(description) <= 1024, alarm.logical  # CloudWatch's limit is 1024 characters
        assert "First: picops " in description, alarm.logical
        for command in re.findall(r"picops ([a-z-]+)", description):
            assert command in CONTRACT_COMMANDS, (alarm.logical, command)


def test_dlq_alarms_name_peek_then_redrive_of_their_own_queue() -> None:
    model = _model()
    for dlq in DLQ_SOURCES:
        description = model.get(f"{dlq}Alarm").desired()["AlarmDescription"]
        if dlq == "SweepDLQ":
            # EventBridge events of failed sweep invocations: nothing to redrive them to; the next sweep
            # repairs what was missed, so peek (and read the logs), then purge.
            assert description.index("picops dlq peek SweepDLQ") < description.index(
                "picops dlq purge SweepDLQ"
            )
            continue
        assert f"picops dlq peek {dlq}, then" in description
        assert f"picops dlq redrive {dlq}" in description
        assert description.index("peek") < description.index("redrive")


def test_every_function_has_errors_and_throttles_alarms_and_the_stream_an_iterator_age_alarm() -> None:
    model = _model()
    for fn in HANDLERS:
        name = _function(model, fn).name
        for metric in ("Errors", "Throttles"):
            alarm = model.get(f"{fn}{metric}Alarm")
            assert isinstance(alarm, Alarm)
            assert (alarm.namespace, alarm.metric, alarm.statistic) == ("AWS/Lambda", metric, "Sum")
            assert alarm.dimensions == (("FunctionName", name),)
            assert alarm.watches == fn
        assert f"picops logs {fn}" in model.get(f"{fn}ErrorsAlarm").desired()["AlarmDescription"]
        assert f"[deploy.functions.{fn}]" in model.get(f"{fn}ThrottlesAlarm").desired()["AlarmDescription"]
    age = model.get("ModerationStreamFunctionMappingIteratorAgeAlarm")
    assert isinstance(age, Alarm)
    assert (age.namespace, age.metric, age.statistic) == ("AWS/Lambda", "IteratorAge", "Maximum")
    assert age.dimensions == (("FunctionName", _function(model, "ModerationStreamFunction").name),)
    assert age.watches == "ModerationStreamFunctionMapping"
    assert age.threshold == 10 * 60 * 1000  # milliseconds
    assert "ModerationStreamFunctionMapping" in age.depends_on


# -- dashboard -----------------------------------------------------------------------------------------------


def _metric_lines(body: dict[str, Any]) -> list[list[Any]]:
    """Every metric line with '.' shorthands expanded (the way CloudWatch reads them)."""
    lines = []
    for widget in body["widgets"]:
        previous: list[Any] = []
        for line in widget.get("properties", {}).get("metrics", []):
            expanded = [previous[i] if v == "." and i < len(previous) else v for i, v in enumerate(line)]
            lines.append(expanded)
            previous = expanded
    return lines


def test_dashboard_is_named_after_the_stack_and_waits_for_the_api() -> None:
    dashboard, _ = _dashboard(_model(stack={"name": "photos"}))
    assert dashboard.logical == "PipelinesDashboard"
    assert dashboard.name == dashboard_name("photos") == "photos-pipelines"
    assert dashboard.type == "AWS::CloudWatch::Dashboard"
    assert dashboard.depends_on == ("BookingsApi",)


def test_dashboard_shows_each_pipelines_queues_functions_stream_and_api() -> None:
    model = _model()
    _, body = _dashboard(model)
    lines = _metric_lines(body)

    def has(namespace: str, metric: str, dimension: str, value: str) -> bool:
        return any(line[:4] == [namespace, metric, dimension, value] for line in lines)

    for queue in ("IngestQueue", "InventoryQueue", "PaymentQueue"):
        name = model.get(queue).name
        assert has("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", name), queue
        assert has("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", name), queue
    for dlq in DLQ_SOURCES:
        assert has("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", model.get(dlq).name), dlq
    for fn in HANDLERS:
        name = model.get(fn).name
        for metric in ("Invocations", "Errors", "Throttles", "Duration"):
            assert has("AWS/Lambda", metric, "FunctionName", name), (fn, metric)
    durations = [w for w in body["widgets"] if "duration" in w.get("properties", {}).get("title", "")]
    assert durations
    assert all(w["properties"]["stat"] == "p95" for w in durations)
    assert has("AWS/Lambda", "IteratorAge", "FunctionName", model.get("ModerationStreamFunction").name)
    for metric in ("4xx", "5xx", "Latency", "Count"):
        assert has("AWS/ApiGateway", metric, "ApiId", "${BookingsApi}"), metric
    for widget in body["widgets"]:
        if widget["type"] == "metric":
            assert widget["properties"]["region"] == REGION


def test_dashboard_shows_every_handler_metric_of_the_table() -> None:
    _, body = _dashboard(_model())
    expressions = [
        item["expression"]
        for widget in body["widgets"]
        for line in widget.get("properties", {}).get("metrics", [])
        for item in line
        if isinstance(item, dict) and "expression" in item
    ]
    for metric in HANDLER_METRICS:
        schema = ",".join((NAMESPACE, "service", *metric.dimensions))
        wanted = f'SEARCH(\'{{{schema}}} MetricName="{metric.name}" service="picops"\''
        assert any(e.startswith(wanted) for e in expressions), metric.name


def test_dashboard_widgets_fit_the_grid_without_overlapping() -> None:
    _, body = _dashboard(_model())
    cells: set[tuple[int, int]] = set()
    for widget in body["widgets"]:
        assert widget["x"] >= 0
        assert widget["x"] + widget["width"] <= 24
        mine = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        assert not cells & mine, widget
        cells |= mine


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("eu-west-1", "https://eu-west-1.console.aws.amazon.com/"),
        ("us-gov-west-1", "https://console.amazonaws-us-gov.com/"),
        ("cn-north-1", "https://console.amazonaws.cn/"),
    ],
)
def test_dashboard_console_url_per_partition(region: str, host: str) -> None:
    url = dashboard_url(region, "picops-pipelines")
    assert url == f"{host}cloudwatch/home?region={region}#dashboards/dashboard/picops-pipelines"


# -- CloudFormation export -----------------------------------------------------------------------------------


def _template(**sections: dict[str, Any]) -> dict[str, Any]:
    settings = _settings(**sections)
    return render(template_model(settings), settings)["Resources"]


def test_export_carries_scaling_parallelization_and_reserved_concurrency() -> None:
    resources = _template(
        ingest={"max_concurrency": 25},
        moderation={"parallelization_factor": 2},
        deploy={"functions": {"IngestFunction": {"reserved_concurrency": 30}}},
    )
    ingest = resources["IngestFunctionMapping"]["Properties"]
    assert ingest["ScalingConfig"] == {"MaximumConcurrency": 25}
    assert resources["PaymentFunctionMapping"]["Properties"]["ScalingConfig"] == {"MaximumConcurrency": 10}
    stream = resources["ModerationStreamFunctionMapping"]["Properties"]
    assert stream["ParallelizationFactor"] == 2
    assert "ScalingConfig" not in stream
    assert resources["IngestFunction"]["Properties"]["ReservedConcurrentExecutions"] == 30
    assert "ReservedConcurrentExecutions" not in resources["PaymentFunction"]["Properties"]


def test_export_has_the_dashboard_with_the_api_id_substituted_and_described_alarms() -> None:
    resources = _template()
    dashboard = resources["PipelinesDashboard"]
    assert dashboard["Type"] == "AWS::CloudWatch::Dashboard"
    props = dashboard["Properties"]
    assert props["DashboardName"] == "picops-pipelines"
    body = props["DashboardBody"]["Fn::Sub"]
    assert "${BookingsApi}" in body
    assert "${AWS::Region}" in body
    json.loads(body)  # valid JSON once Fn::Sub has filled the placeholders in
    for logical, resource in resources.items():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            assert "First: picops " in resource["Properties"]["AlarmDescription"], logical
            assert resource["Properties"]["AlarmActions"] == [{"Ref": "AlertsTopic"}], logical


def test_operating_page_documents_every_alarm_metric_and_setting() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "operating.md").read_text()
    for alarm in _model().of_type(Alarm):
        assert f"`{alarm.logical}`" in text, alarm.logical
    for metric in HANDLER_METRICS:
        assert f"`{metric.name}`" in text, metric.name
    for setting in (
        "[ingest] max_concurrency",
        "[bookings] max_concurrency",
        "[moderation] parallelization_factor",
        "reserved_concurrency",
        "<stack>-pipelines",
    ):
        assert setting in text, setting
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "docs/operating.md" in readme
