"""The health checks' judgements: which command an alarm says to run first, and the overall level."""

from __future__ import annotations

from picops.config import Settings
from picops.core.health import Check, first_command, pipeline_of, worst
from picops.stack.build import build_model
from picops.stack.model import Alarm


def test_every_alarm_names_a_first_command_health_can_suggest() -> None:
    model = build_model(Settings(), "123456789012", "us-east-1")
    for alarm in model.of_type(Alarm):
        command = first_command(alarm.description)
        assert command.startswith("`picops "), (alarm.logical, alarm.description)
        assert command.endswith("`")
    dlq = next(a for a in model.of_type(Alarm) if a.logical == "IngestDLQAlarm")
    assert first_command(dlq.description) == "`picops dlq peek IngestDLQ`"
    by_logical = {a.logical: first_command(a.description) for a in model.of_type(Alarm)}
    # Prose after the command is not part of it.
    assert by_logical["IngestQueueAgeAlarm"] == "`picops status`"
    assert by_logical["SweepDLQAlarm"] == "`picops dlq peek SweepDLQ`"
    assert by_logical["IngestFunctionErrorsAlarm"] == "`picops logs IngestFunction --since 15m`"


def test_alarms_and_queues_are_grouped_by_their_pipeline() -> None:
    assert pipeline_of("IngestDLQAlarm") == "ingest"
    assert pipeline_of("SweepDLQ") == "moderation"
    assert pipeline_of("PaymentQueue") == "bookings"


def test_one_red_check_makes_the_whole_red_and_no_datapoint_is_not_a_failure() -> None:
    green = Check("ingest", "IngestDLQ", "green", "0 visible")
    unknown = Check("moderation", "stream iterator age", "none", "no datapoint")
    amber = Check("bookings", "outbox backlog", "amber", "2 unpublished")
    red = Check("ingest", "IngestDLQ", "red", "1 visible")
    assert worst([green, unknown]) == "green"
    assert worst([green, amber, unknown]) == "amber"
    assert worst([green, amber, red]) == "red"
    assert worst([unknown]) == "none"
