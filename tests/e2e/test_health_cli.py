"""`picops health` on the moto server: red for a message in a DLQ, green after `dlq redrive`."""

from __future__ import annotations

from typing import Any

import pytest

from picops.config import Settings
from picops.stack.names import StackNames

pytestmark = pytest.mark.e2e


def _check(doc: dict[str, Any], name: str) -> dict[str, str]:
    return next(c for c in doc["checks"] if c["check"] == name)


def test_health_is_red_for_a_dead_letter_and_green_after_the_redrive(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    provisioned = cli("provision", "--yes", "--json", endpoint=endpoint)
    assert provisioned.exit_code == 0, provisioned.stderr
    healthy = cli("health", "--json", endpoint=endpoint)
    assert healthy.exit_code == 0, healthy.stderr
    doc = healthy.json()
    assert doc["level"] == "green"
    assert {c["pipeline"] for c in doc["checks"]} >= {"ingest", "moderation", "bookings"}
    assert {"alarms", "IngestDLQ", "SweepDLQ", "outbox backlog", "seats PAYING past lease"} <= {
        c["check"] for c in doc["checks"]
    }
    assert _check(doc, "failures (24 h)")["level"] == "green"

    names = StackNames(Settings(), server_factory.account_id(), server_factory.region)
    sqs = server_factory.client("sqs")
    sqs.send_message(QueueUrl=names.queue_url("IngestDLQ", endpoint), MessageBody='{"Records": []}')
    sick = cli("health", "--json", endpoint=endpoint)
    assert sick.exit_code == 1, sick.stderr
    dlq = _check(sick.json(), "IngestDLQ")
    assert (dlq["pipeline"], dlq["level"]) == ("ingest", "red")
    assert dlq["value"].startswith("1 visible")
    assert dlq["action"] == f"picops --endpoint-url {endpoint} dlq peek IngestDLQ"
    screen = cli("health", endpoint=endpoint)
    assert screen.exit_code == 1
    assert "FAIL" in screen.stdout
    assert "health: red" in screen.stdout

    redriven = cli("dlq", "redrive", "IngestDLQ", "--yes", "--json", endpoint=endpoint)
    assert redriven.exit_code == 0, redriven.stderr
    again = cli("health", "--json", endpoint=endpoint)
    assert again.exit_code == 0, again.stderr
    assert _check(again.json(), "IngestDLQ")["level"] == "green"
    assert again.json()["level"] == "green"


def test_health_refuses_watch_with_json(cli: Any, endpoint: str) -> None:
    result = cli("health", "--watch", "--json", endpoint=endpoint)
    assert result.exit_code == 2
    assert "--watch" in result.stderr


def test_an_alarm_in_alarm_is_red_with_the_command_its_description_names(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    provisioned = cli("provision", "--yes", "--json", endpoint=endpoint)
    assert provisioned.exit_code == 0, provisioned.stderr
    server_factory.client("cloudwatch").set_alarm_state(
        AlarmName="picops-PaymentDLQ-visible", StateValue="ALARM", StateReason="test"
    )
    result = cli("health", "--json", endpoint=endpoint)
    assert result.exit_code == 1, result.stderr
    alarm = next(c for c in result.json()["checks"] if c["check"] == "alarms" and c["level"] == "red")
    assert alarm["pipeline"] == "bookings"
    assert "PaymentDLQAlarm" in alarm["value"]
    assert alarm["action"] == f"picops --endpoint-url {endpoint} dlq peek PaymentDLQ"


def test_health_of_an_unprovisioned_stack_is_red_and_suggests_provision(cli: Any, endpoint: str) -> None:
    result = cli("--stack", "never-made", "health", "--json", endpoint=endpoint)
    assert result.exit_code == 1, result.stderr
    doc = result.json()
    assert doc["level"] == "red"
    missing = [c for c in doc["checks"] if c["value"] in ("missing", "table missing")]
    assert {c["check"] for c in missing} >= {"IngestDLQ", "failures (24 h)", "outbox backlog"}
    assert all(c["action"].endswith("--stack never-made provision --plan") for c in missing)


def test_health_watch_redraws_until_ctrl_c(cli: Any, endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from picops.cli import health

    provisioned = cli("provision", "--yes", "--json", endpoint=endpoint)
    assert provisioned.exit_code == 0, provisioned.stderr
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(health.time, "sleep", sleep)
    result = cli("health", "--watch", "--interval", "2", endpoint=endpoint)
    assert result.exit_code == 0, result.stderr
    assert sleeps == [2.0, 2.0]
    assert result.stdout.count("health: green") == 2
