"""The outbox schedule in the model: its rule, its permission, its function's least-privilege grants, and
the local scheduler's reading of a rule's period."""

from __future__ import annotations

import json
from typing import Any

import pytest

from picops.config import load_settings
from picops.local.schedules import period_s
from picops.stack.build import build_model
from picops.stack.builders.bookings import rate_expression
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
