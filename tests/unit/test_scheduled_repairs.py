"""The outbox schedule in the model: its rule, its permission, its function's least-privilege grants, and
the local scheduler's reading of a rule's period."""

from __future__ import annotations

import json
from typing import Any

import pytest

from picops.config import load_settings
from picops.local.schedules import period_s
from picops.stack.build import build_model
from picops.stack.builders.schedules import rate_expression
from picops.stack.model import LambdaPermission, Role, ScheduleRule, StackModel
from picops.stack.names import StackNames

ACCOUNT, REGION = "123456789012", "us-west-2"


def _model(**bookings: Any) -> StackModel:
    return build_model(load_settings(use_files=False, overrides={"bookings": bookings}), ACCOUNT, REGION)


def _names() -> StackNames:
    return StackNames(load_settings(use_files=False), ACCOUNT, REGION)


def test_the_outbox_schedule_runs_the_sweep_every_five_minutes_by_default() -> None:
    model = _model()
    rule = model.get("OutboxSchedule")
    assert isinstance(rule, ScheduleRule)
    names = _names()
    assert rule.desired() == {
        "ScheduleExpression": "rate(5 minutes)",
        "State": "ENABLED",
        "Targets": [
            {
                "Id": "function",
                "Arn": f"{names.arn('OutboxSweepFunction')}:live",
                # A stale run is not retried: the next one comes a period later.
                "RetryPolicy": {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 300},
            }
        ],
    }
    permission = model.get("OutboxSchedulePermission")
    assert isinstance(permission, LambdaPermission)
    assert (permission.principal, permission.source_arn) == (
        "events.amazonaws.com",
        names.arn("OutboxSchedule"),
    )
    assert "OutboxSweepFunctionErrorsAlarm" in {r.logical for r in model.resources}


@pytest.mark.parametrize(
    ("every", "expression", "local_s"),
    [("30s", "rate(1 minute)", 30.0), ("1m", "rate(1 minute)", 60.0), ("90", "rate(2 minutes)", 90.0)],
)
def test_a_period_under_eventbridges_floor_is_exact_locally_and_a_minute_on_aws(
    every: str, expression: str, local_s: float
) -> None:
    rule = _model(republish_every=every).get("OutboxSchedule")
    assert isinstance(rule, ScheduleRule)
    assert rule.schedule == expression
    assert period_s(rule) == local_s


def test_republish_every_zero_leaves_the_function_without_a_schedule() -> None:
    logicals = {r.logical for r in _model(republish_every=0).resources}
    assert "OutboxSweepFunction" in logicals
    assert {"OutboxSchedule", "OutboxSchedulePermission"} & logicals == set()


def test_the_sweep_may_scan_and_confirm_bookings_and_publish_to_booking_topic_only() -> None:
    model = _model()
    role = next(r for r in model.of_type(Role) if r.function == "OutboxSweepFunction")
    names = _names()
    granted = {
        (action, resource)
        for s in json.loads(role.document)["Statement"]
        for action in s["Action"]
        for resource in s["Resource"]
        if not action.startswith("logs:")
    }
    table, topic = names.arn("BookingsTable"), names.arn("BookingTopic")
    assert granted == {("dynamodb:Scan", table), ("dynamodb:UpdateItem", table), ("sns:Publish", topic)}


def test_rate_expressions_round_up_to_whole_minutes() -> None:
    assert [rate_expression(s) for s in (1, 60, 61, 300, 3600)] == [
        "rate(1 minute)",
        "rate(1 minute)",
        "rate(2 minutes)",
        "rate(5 minutes)",
        "rate(60 minutes)",
    ]


def test_the_local_scheduler_reads_an_hourly_rule_and_ignores_cron() -> None:
    hourly = ScheduleRule("R", "r", schedule="rate(1 hour)", function="F")
    assert period_s(hourly) == 3600.0
    assert period_s(ScheduleRule("C", "c", schedule="cron(0 12 * * ? *)", function="F")) == 0.0


def _dlq_model(**dlqs: Any) -> StackModel:
    return build_model(load_settings(use_files=False, overrides={"dlq": dlqs}), ACCOUNT, REGION)


def test_no_dlq_redrives_on_a_schedule_by_default_and_the_function_may_only_log() -> None:
    model = _model()
    assert [r.logical for r in model.of_type(ScheduleRule) if r.function == "DlqRedriveFunction"] == []
    role = next(r for r in model.of_type(Role) if r.function == "DlqRedriveFunction")
    actions = {a for s in json.loads(role.document)["Statement"] for a in s["Action"]}
    assert actions == {"logs:CreateLogStream", "logs:PutLogEvents"}


def test_a_configured_dlq_redrives_into_its_source_on_its_own_schedule_with_its_caps() -> None:
    model = _dlq_model(PaymentDLQ={"auto_redrive_every": "10m", "redrive_rate": 5, "redrive_max": 200})
    rule = model.get("PaymentDLQRedriveSchedule")
    assert isinstance(rule, ScheduleRule)
    assert (rule.schedule, rule.every_s, rule.function) == ("rate(10 minutes)", 600, "DlqRedriveFunction")
    assert json.loads(rule.target()["Input"]) == {
        "dlq": "PaymentDLQ",
        "source": "PaymentQueue",
        "alarm": "picops-PaymentDLQ-visible",
        "rate": 5.0,
        "max_messages": 200,
    }
    assert "PaymentDLQAlarm" in {r.logical for r in model.resources}
    assert model.get("PaymentDLQAlarm").name == "picops-PaymentDLQ-visible"  # type: ignore[attr-defined]
    assert "InventoryDLQRedriveSchedule" not in {r.logical for r in model.resources}


def test_the_redrive_function_is_granted_the_configured_dlqs_their_sources_and_alarms_only() -> None:
    model = _dlq_model(InventoryDLQ={"auto_redrive_every": "5m"})
    role = next(r for r in model.of_type(Role) if r.function == "DlqRedriveFunction")
    names = _names()
    dlq, source = names.arn("InventoryDLQ"), names.arn("InventoryQueue")
    alarm = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:picops-InventoryDLQ-visible"
    granted = {
        (action, resource)
        for s in json.loads(role.document)["Statement"]
        for action in s["Action"]
        for resource in s["Resource"]
        if not action.startswith("logs:")
    }
    assert {r for _a, r in granted} == {dlq, source, alarm}
    assert {a for a, r in granted if r == source} == {"sqs:SendMessage", "sqs:GetQueueAttributes"}
    assert {a for a, r in granted if r == alarm} == {"cloudwatch:DescribeAlarms"}
    assert ("sqs:DeleteMessage", dlq) in granted
    assert ("sqs:DeleteMessage", source) not in granted


def test_only_dlqs_of_queues_may_redrive_on_a_schedule() -> None:
    from picops.config import REDRIVE_DLQS, ConfigError
    from picops.stack.names import DLQ_SOURCES, logical_type

    assert set(REDRIVE_DLQS) == {d for d, s in DLQ_SOURCES.items() if logical_type(s) == "AWS::SQS::Queue"}
    with pytest.raises(ConfigError):
        _dlq_model(SweepDLQ={"auto_redrive_every": "5m"})
