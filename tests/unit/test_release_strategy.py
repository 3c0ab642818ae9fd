"""Deploy strategies as `--strategy` spells them, and release history records as function tags."""

from __future__ import annotations

import re

import pytest

from picops.errors import UsageError
from picops.provision.release import history
from picops.provision.release.strategy import PREDEFINED, parse_strategy


def test_default_is_all_at_once_in_one_step() -> None:
    strategy = parse_strategy(None)
    assert (strategy.name, strategy.gradual, strategy.steps()) == ("all-at-once", False, [(100, 0)])
    assert strategy.codedeploy_config == "CodeDeployDefault.LambdaAllAtOnce"


@pytest.mark.parametrize(
    ("name", "config", "steps"),
    [
        ("canary10-5m", "CodeDeployDefault.LambdaCanary10Percent5Minutes", [(10, 300), (100, 0)]),
        ("canary10-30m", "CodeDeployDefault.LambdaCanary10Percent30Minutes", [(10, 1800), (100, 0)]),
        ("linear10-1m", "CodeDeployDefault.LambdaLinear10PercentEvery1Minute", None),
        ("linear10-10m", "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes", None),
    ],
)
def test_predefined_strategies_are_codedeploys(
    name: str, config: str, steps: list[tuple[int, int]] | None
) -> None:
    strategy = parse_strategy(name)
    assert strategy.codedeploy_config == config
    if steps is not None:
        assert strategy.steps() == steps
    else:
        shares = [share for share, _ in strategy.steps()]
        assert shares == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
        assert strategy.steps()[-1] == (100, 0)


def test_all_nine_predefined_names() -> None:
    assert sorted(PREDEFINED) == sorted(
        ["all-at-once"]
        + [f"canary10-{m}m" for m in (5, 10, 15, 30)]
        + [f"linear10-{m}m" for m in (1, 2, 3, 10)]
    )


def test_custom_canary_and_linear() -> None:
    canary = parse_strategy("canary:25%:3min")
    assert (canary.kind, canary.percent, canary.interval_min) == ("canary", 25, 3)
    assert canary.steps() == [(25, 180), (100, 0)]
    assert canary.codedeploy_config == "picops-canary-25pct-3min"
    linear = parse_strategy("linear:30%:2min")
    assert linear.steps() == [(30, 120), (60, 120), (90, 120), (100, 0)]


@pytest.mark.parametrize(
    "text", ["canary", "canary:0%:5min", "canary:100%:5min", "linear:10%:0min", "linear:10:5", "blue-green"]
)
def test_bad_strategy_names_the_flag(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_strategy(text)
    message, hint = caught.value.worded(lambda field: "--" + field)
    assert message.startswith("--strategy ")
    assert hint is not None
    assert "canary10-5m" in hint


def test_history_record_round_trips_through_a_tag() -> None:
    record = history.Record(
        "IngestFunction",
        "3",
        "2",
        "2026-12-04T09:30:00.123Z",
        "arn:aws:sts::123456789012:assumed-role/Deployer/jane@example.com",
        "canary:20%:5min",
        "rolled-back",
        "picops-IngestFunction-errors",
    )
    key, value = record.tag()
    assert key == "picops:release:2026-12-04T09:30:00.123Z"
    # Lambda's tag values: letters, digits, spaces and _ . : / = + - @ only, 256 at most.
    assert re.fullmatch(r"[\w .:/=+\-@]{1,256}", value)
    parsed = history.parse("IngestFunction", key, value)
    assert parsed is not None
    assert parsed.version == "3"
    assert parsed.previous == "2"
    assert parsed.by == record.by
    assert parsed.outcome == "rolled-back"
    assert parsed.alarm == "picops-IngestFunction-errors"
    assert parsed.strategy == "canary:20%:5min"


def test_history_tag_stays_within_lambdas_limit_for_a_long_caller() -> None:
    record = history.Record(
        "F", "12", "11", history.now(), "arn:aws:sts::1:assumed-role/" + "r" * 400, "x", "ok"
    )
    _, value = record.tag()
    assert len(value) <= 256
    assert value.startswith("version=12 previous=11 strategy=x outcome=ok by=arn:aws:sts::1:")


def test_tags_that_are_not_records_are_ignored() -> None:
    assert history.parse("F", "team", "photos") is None
    assert history.parse("F", "picops:release:2026", "garbage") is None
