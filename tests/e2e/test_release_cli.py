"""`picops deploy --strategy/--alarm/--force` and `deploy status|history|rollback` end to end: the real CLI
(strict local mode: the operator policy authorises every call) against a threaded moto server."""

from __future__ import annotations

from typing import Any

import pytest

from picops.aws import ClientFactory
from picops.provision.release import shift as shift_module
from picops.stack.model import FunctionSpec
from tests.e2e.test_deploy_cli import deploy_env, functions, shared_cache  # noqa: F401 - fixtures

pytestmark = pytest.mark.e2e

FAST = ("--interval-scale", "0.0002")


@pytest.fixture
def ingest(functions: list[FunctionSpec]) -> FunctionSpec:  # noqa: F811 - the imported fixture
    return next(s for s in functions if s.logical == "IngestFunction")


@pytest.fixture
def errors_alarm(server_factory: ClientFactory, ingest: FunctionSpec) -> str:
    """IngestFunction's Errors alarm as provision makes it (the functions fixture makes no alarms), OK."""
    name = "picops-IngestFunction-errors"
    cloudwatch = server_factory.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": ingest.name}],
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="test")
    return name


def _alias(server_factory: ClientFactory, name: str) -> tuple[str, dict[str, float]]:
    alias = server_factory.client("lambda").get_alias(FunctionName=name, Name="live")
    return alias["FunctionVersion"], (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}


def _new_code(monkeypatch: pytest.MonkeyPatch, dependencies: str) -> None:
    """A different dependency set changes the bundle, so the next deploy publishes a new version."""
    monkeypatch.setenv("PICOPS_DEPLOY__DEPENDENCIES", dependencies)


def test_canary_release_then_history_status_and_rollback(
    cli: Any,
    endpoint: str,
    server_factory: ClientFactory,
    ingest: FunctionSpec,
    errors_alarm: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert cli("deploy", "IngestFunction", endpoint=endpoint).exit_code == 0
    _new_code(monkeypatch, '["pydantic"]')
    r = cli("deploy", "IngestFunction", "--strategy", "canary10-5m", *FAST, "--json", endpoint=endpoint)
    assert r.exit_code == 0, r.stderr
    (item,) = r.json()["functions"]
    assert (item["action"], item["version"], item["previous_version"]) == ("updated", "2", "1")
    assert (item["strategy"], item["outcome"], item["alarm"]) == ("canary10-5m", "succeeded", None)
    assert "IngestFunction: 10% of traffic on version 2" in r.stderr
    assert _alias(server_factory, ingest.name) == ("2", {})

    r = cli("deploy", "history", "IngestFunction", "--json", endpoint=endpoint)
    assert r.exit_code == 0, r.stderr
    records = r.json()["history"]
    assert [(h["version"], h["previous_version"], h["strategy"], h["outcome"]) for h in records] == [
        ("2", "1", "canary10-5m", "succeeded"),
        ("1", None, "all-at-once", "succeeded"),
    ]
    assert records[0]["by"].startswith("arn:aws:")
    assert records[0]["at"] > records[1]["at"]

    r = cli("deploy", "status", "--json", endpoint=endpoint)
    assert r.exit_code == 0, r.stderr
    row = next(f for f in r.json()["functions"] if f["logical"] == "IngestFunction")
    assert (row["version"], row["weights"], row["shifting"]) == ("2", {}, False)
    assert row["last"]["outcome"] == "succeeded"
    assert row["alarms"] == [{"name": errors_alarm, "state": "OK"}]

    r = cli("deploy", "rollback", "IngestFunction", "--json", endpoint=endpoint)
    assert r.exit_code == 0, r.stderr
    (item,) = r.json()["functions"]
    assert (item["action"], item["version"], item["previous_version"]) == ("rolled_back", "1", "2")
    assert _alias(server_factory, ingest.name) == ("1", {})
    r = cli("deploy", "rollback", "IngestFunction", "--to", "2", endpoint=endpoint)
    assert r.exit_code == 0, r.stderr
    assert "alias live moved from version 1 to 2" in r.stdout
    history = cli("deploy", "history", "--json", endpoint=endpoint).json()["history"]
    assert [(h["strategy"], h["version"]) for h in history[:2]] == [("rollback", "2"), ("rollback", "1")]


def test_an_alarm_firing_during_the_canary_rolls_it_back(
    cli: Any,
    endpoint: str,
    server_factory: ClientFactory,
    ingest: FunctionSpec,
    errors_alarm: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert cli("deploy", "IngestFunction", endpoint=endpoint).exit_code == 0
    real_route = shift_module.route

    def failing_new_version(lam: Any, shift: Any, weight: int) -> None:
        real_route(lam, shift, weight)
        if weight == 10:  # the canary's share errs: CloudWatch sets the function's Errors alarm off
            server_factory.client("cloudwatch").set_alarm_state(
                AlarmName=errors_alarm, StateValue="ALARM", StateReason="Errors > 0"
            )

    monkeypatch.setattr(shift_module, "route", failing_new_version)
    _new_code(monkeypatch, '["pydantic"]')
    r = cli("deploy", "IngestFunction", "--strategy", "linear10-1m", *FAST, "--json", endpoint=endpoint)
    assert r.exit_code == 1, r.stderr
    (item,) = r.json()["functions"]
    assert (item["version"], item["outcome"], item["alarm"]) == ("1", "rolled-back", errors_alarm)
    assert f"alarm {errors_alarm} fired; alias live serves version 1" in r.stderr
    assert _alias(server_factory, ingest.name) == ("1", {})
    (last, _) = cli("deploy", "history", "IngestFunction", "--json", endpoint=endpoint).json()["history"]
    assert (last["version"], last["outcome"], last["alarm"]) == ("2", "rolled-back", errors_alarm)


def test_a_firing_alarm_needs_force(
    cli: Any,
    endpoint: str,
    server_factory: ClientFactory,
    ingest: FunctionSpec,
    errors_alarm: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert cli("deploy", "IngestFunction", endpoint=endpoint).exit_code == 0
    server_factory.client("cloudwatch").set_alarm_state(
        AlarmName=errors_alarm, StateValue="ALARM", StateReason="the bug the fix is for"
    )
    _new_code(monkeypatch, '["pydantic"]')
    r = cli("deploy", "IngestFunction", "--strategy", "canary10-5m", *FAST, endpoint=endpoint)
    assert r.exit_code == 2
    assert f"alarm {errors_alarm} (IngestFunction) is already in ALARM" in r.stderr
    assert "--force" in r.stderr
    assert _alias(server_factory, ingest.name) == ("1", {})

    r = cli(
        "deploy", "IngestFunction", "--strategy", "canary10-5m", "--force", *FAST, "--json", endpoint=endpoint
    )
    assert r.exit_code == 0, r.stderr
    assert f"alarm {errors_alarm} is already in ALARM" in r.stderr
    assert r.json()["functions"][0]["outcome"] == "succeeded"
    assert _alias(server_factory, ingest.name) == ("2", {})


def test_release_usage_errors_exit_2_naming_the_flag(
    cli: Any,
    endpoint: str,
    functions: list[FunctionSpec],  # noqa: F811 - the imported fixture
) -> None:
    r = cli("deploy", "--strategy", "canary:10%", endpoint=endpoint)
    assert (r.exit_code, "--strategy 'canary:10%' is not a deploy strategy" in r.stderr) == (2, True)
    # One of the stack's alarm names (the operator policy may read those), not made by the fixture.
    r = cli(
        "deploy", "--strategy", "canary10-5m", "--alarm", "picops-PaymentFunction-errors", endpoint=endpoint
    )
    assert (r.exit_code, "--alarm: no CloudWatch alarm named picops-PaymentFunction-errors" in r.stderr) == (
        2,
        True,
    )
    r = cli("deploy", "--strategy", "canary10-5m", "--no-wait", endpoint=endpoint)
    assert (r.exit_code, "--no-wait" in r.stderr) == (2, True)
    r = cli("deploy", "rollback", "--to", "1", endpoint=endpoint)
    assert (r.exit_code, "--to takes one published version" in r.stderr) == (2, True)
    assert cli("deploy", "IngestFunction", endpoint=endpoint).exit_code == 0
    r = cli("deploy", "rollback", "IngestFunction", "--to", "7", endpoint=endpoint)
    assert (r.exit_code, "--to: picops-ingest has no published version 7" in r.stderr) == (2, True)
