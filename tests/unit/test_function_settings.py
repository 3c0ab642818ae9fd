"""Per-function timeout and memory: defaults that fit each job, `[deploy]` for all, `[deploy.functions.X]`
for one; each consumed queue's visibility follows its own consumer; preflight refuses a sweeper that could
never work past its margin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from picops.config import FUNCTION_LOGICAL_NAMES, Settings, load_settings
from picops.errors import ConfigError
from picops.provision.preflight import check_model, preflight_model
from picops.stack.build import build_model
from picops.stack.builders.context import FUNCTION_DEFAULTS
from picops.stack.model import FunctionSpec, Queue, StackModel


def _model(settings: Settings) -> StackModel:
    return build_model(settings, "123456789012", "us-east-1")


def _fn(model: StackModel, logical: str) -> FunctionSpec:
    spec = model.get(logical)
    assert isinstance(spec, FunctionSpec)
    return spec


def test_defaults_fit_each_job() -> None:
    model = _model(Settings())
    assert set(FUNCTION_DEFAULTS) == set(FUNCTION_LOGICAL_NAMES)
    sweep = _fn(model, "ModerationSweepFunction")
    assert sweep.timeout_s >= 300  # minutes, not seconds: an hourly job
    assert _fn(model, "BookingApiFunction").timeout_s <= 29  # under API Gateway's integration timeout
    for logical in FUNCTION_LOGICAL_NAMES:
        assert (_fn(model, logical).timeout_s, _fn(model, logical).memory_mb) == FUNCTION_DEFAULTS[logical]
    assert not check_model(model)


def test_one_function_override_beats_the_default_and_the_rest_keep_theirs(tmp_path: Path) -> None:
    config = tmp_path / "picops.toml"
    config.write_text(
        "[deploy.functions.ModerationSweepFunction]\ntimeout_s = 900\nmemory_mb = 2048\n"
        "[deploy.functions.IngestFunction]\ntimeout_s = 45\n"
    )
    model = _model(load_settings(config))
    assert (
        _fn(model, "ModerationSweepFunction").timeout_s,
        _fn(model, "ModerationSweepFunction").memory_mb,
    ) == (
        900,
        2048,
    )
    assert _fn(model, "IngestFunction").timeout_s == 45
    assert _fn(model, "IngestFunction").memory_mb == FUNCTION_DEFAULTS["IngestFunction"][1]
    assert _fn(model, "PaymentFunction").timeout_s == FUNCTION_DEFAULTS["PaymentFunction"][0]


def test_an_explicit_deploy_default_applies_to_every_function_without_its_own() -> None:
    settings = Settings(
        deploy={"timeout_s": 120, "memory_mb": 1024, "functions": {"BookingApiFunction": {"timeout_s": 8}}}  # type: ignore[arg-type]
    )
    model = _model(settings)
    for logical in FUNCTION_LOGICAL_NAMES:
        spec = _fn(model, logical)
        assert spec.memory_mb == 1024
        assert spec.timeout_s == (8 if logical == "BookingApiFunction" else 120)


@pytest.mark.parametrize(
    ("consumer", "queue", "timeout"),
    [
        ("IngestFunction", "IngestQueue", 200),
        ("InventoryFunction", "InventoryQueue", 40),
        ("PaymentFunction", "PaymentQueue", 55),
    ],
)
def test_each_queue_visibility_is_six_times_its_own_consumers_timeout(
    consumer: str, queue: str, timeout: int
) -> None:
    settings = Settings(deploy={"functions": {consumer: {"timeout_s": timeout}}})  # type: ignore[arg-type]
    model = _model(settings)
    q = model.get(queue)
    assert isinstance(q, Queue)
    assert q.visibility_timeout_s == 6 * timeout
    for other, other_queue in (("IngestFunction", "IngestQueue"), ("PaymentFunction", "PaymentQueue")):
        if other != consumer:
            oq = model.get(other_queue)
            assert isinstance(oq, Queue)
            assert oq.visibility_timeout_s == 6 * _fn(model, other).timeout_s


@pytest.mark.parametrize(
    ("timeout", "margin", "refused"),
    [
        (30, 15, True),
        (15, 15, True),
        (10, 15, True),
        (45, 15, False),
        (600, 15, False),
        (600, 400, True),
        (900, 400, False),
    ],
)
def test_preflight_refuses_a_sweeper_timeout_not_comfortably_above_its_margin(
    timeout: int, margin: float, refused: bool
) -> None:
    settings: Any = Settings(
        moderation={"sweep_margin_s": margin},  # type: ignore[arg-type]
        deploy={"functions": {"ModerationSweepFunction": {"timeout_s": timeout}}},  # type: ignore[arg-type]
    )
    model = _model(settings)
    problems = [p for p in check_model(model) if p.startswith("ModerationSweepFunction")]
    assert bool(problems) is refused, problems
    if refused:
        assert "sweep_margin_s" in problems[0]
        assert "[deploy.functions.ModerationSweepFunction] timeout_s" in problems[0]
        with pytest.raises(ConfigError) as caught:
            preflight_model(model)
        assert caught.value.exit_code == 2
