"""The traffic shift picops drives (alias weights step by step, rollback on a firing alarm or Ctrl-C), the
alarms a release watches, and the release history, against in-process moto."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from picops.aws import ClientFactory
from picops.errors import UsageError
from picops.provision.release import history
from picops.provision.release.alarms import chosen_alarms, default_alarms, refuse_firing, states
from picops.provision.release.shift import CloudWatchAlarms, Driver, Shift
from picops.provision.release.strategy import parse_strategy
from picops.stack.build import build_model
from tests.deploy_support import TRUST, bundle_settings

NAME = "picops-release-probe"
ALARM = "probe-errors"


def _zip(body: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", body)
    return buf.getvalue()


@pytest.fixture
def lam(aws: ClientFactory) -> Any:
    """A function with versions 1 and 2 published and `live` on 1, and an OK alarm named ALARM."""
    role = aws.client("iam").create_role(RoleName="probe", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    client = aws.client("lambda")
    client.create_function(
        FunctionName=NAME,
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": _zip("a=1")},
    )
    client.publish_version(FunctionName=NAME)
    client.create_alias(FunctionName=NAME, Name="live", FunctionVersion="1")
    client.update_function_code(FunctionName=NAME, ZipFile=_zip("a=2"))
    client.publish_version(FunctionName=NAME)
    cloudwatch = aws.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=ALARM,
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="test")
    return client


def _shift() -> Shift:
    return Shift("ProbeFunction", NAME, "live", "1", "2", (ALARM,))


def _alias(lam: Any) -> tuple[str, dict[str, float]]:
    alias = lam.get_alias(FunctionName=NAME, Name="live")
    return alias["FunctionVersion"], (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}


def test_canary_sends_its_share_then_everything(aws: ClientFactory, lam: Any) -> None:
    seen: list[tuple[int, tuple[str, dict[str, float]]]] = []
    shift = _shift()
    driver = Driver(lam, CloudWatchAlarms(aws.client("cloudwatch")), scale=0.0005)
    driver.on_step = lambda s: seen.append((s.weight, _alias(lam)))
    driver.run(parse_strategy("canary10-5m"), [shift])
    assert seen == [(10, ("1", {"2": 0.1})), (100, ("2", {}))]
    assert (shift.outcome, shift.version, shift.alarm) == ("succeeded", "2", None)


def test_a_firing_alarm_puts_all_traffic_back_on_the_old_version(aws: ClientFactory, lam: Any) -> None:
    cloudwatch = aws.client("cloudwatch")
    shift = _shift()

    def bad_version(s: Shift) -> None:
        if s.weight == 20:  # the new version's errors set the alarm off at the second step
            cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="errors")

    driver = Driver(lam, CloudWatchAlarms(cloudwatch), scale=0.0005, on_step=bad_version)
    driver.run(parse_strategy("linear10-1m"), [shift])
    assert (shift.outcome, shift.alarm, shift.version) == ("rolled-back", ALARM, "1")
    assert shift.steps == [10, 20]
    assert _alias(lam) == ("1", {})


def test_an_alarm_ignored_with_force_does_not_roll_back(aws: ClientFactory, lam: Any) -> None:
    cloudwatch = aws.client("cloudwatch")
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="the bug being fixed")
    shift = _shift()
    Driver(lam, CloudWatchAlarms(cloudwatch, frozenset({ALARM})), scale=0.0005).run(
        parse_strategy("canary:50%:1min"), [shift]
    )
    assert (shift.outcome, _alias(lam)) == ("succeeded", ("2", {}))


def test_an_interrupted_release_goes_back_to_the_old_version(aws: ClientFactory, lam: Any) -> None:
    def interrupted(_: float) -> None:
        raise KeyboardInterrupt

    shift = _shift()
    driver = Driver(lam, CloudWatchAlarms(aws.client("cloudwatch")), sleep=interrupted)
    with pytest.raises(KeyboardInterrupt):
        driver.run(parse_strategy("canary10-5m"), [shift])
    assert (shift.outcome, _alias(lam)) == ("stopped", ("1", {}))


def test_history_keeps_the_newest_records_in_order(aws: ClientFactory, lam: Any) -> None:
    arn = lam.get_function(FunctionName=NAME)["Configuration"]["FunctionArn"]
    lam.tag_resource(Resource=arn, Tags={"team": "photos"})
    for n in range(history.KEEP + 3):
        at = f"2026-12-04T09:{n:02d}:00.000Z"
        history.write(
            lam, arn, history.Record("P", str(n + 1), str(n), at, "arn:aws:iam::1:user/me", "x", "ok")
        )
    records = history.read(lam, "P", arn)
    assert [r.version for r in records] == [str(n + 1) for n in range(3, history.KEEP + 3)]
    assert lam.list_tags(Resource=arn)["Tags"]["team"] == "photos"


def test_default_alarms_are_the_functions_errors_throttles_and_dlq(tmp_path: Path) -> None:
    model = build_model(bundle_settings(tmp_path), "123456789012", "us-east-1")
    ingest = next(s for s in model.functions() if s.logical == "IngestFunction")
    names = default_alarms(model, ingest)
    assert any(n.endswith("-IngestFunction-errors") for n in names)
    assert any(n.endswith("-IngestFunction-throttles") for n in names)
    assert any(n.endswith("-IngestDLQ-visible") for n in names)
    assert len(names) == 3
    sweep = next(s for s in model.functions() if s.logical == "ModerationSweepFunction")
    assert any(n.endswith("-SweepDLQ-visible") for n in default_alarms(model, sweep))


def test_a_firing_alarm_refuses_the_release_unless_forced(
    aws: ClientFactory, lam: Any, tmp_path: Path
) -> None:
    model = build_model(bundle_settings(tmp_path), aws.account_id(), aws.region)
    specs = model.functions()[:1]
    cloudwatch = aws.client("cloudwatch")
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="errors")
    known = states(cloudwatch, [ALARM, "nope"])
    assert known == {ALARM: "ALARM"}
    watched = chosen_alarms(model, specs, [ALARM], known)
    with pytest.raises(UsageError) as caught:
        refuse_firing(watched, known, force=False)
    message, hint = caught.value.worded(lambda f: "--" + f)
    assert ALARM in message
    assert hint is not None
    assert "--force" in hint
    assert refuse_firing(watched, known, force=True) == {ALARM}
    with pytest.raises(UsageError, match="nope"):
        chosen_alarms(model, specs, ["nope"], known)
