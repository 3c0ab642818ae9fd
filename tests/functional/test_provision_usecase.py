"""`provision.run`, the provision use case, called without the CLI (in-process moto)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from picops import provision
from picops.config import Settings, load_settings
from picops.errors import ConfigError
from picops.provision.plan import context_for, make_plan


def _settings(**sections: dict[str, Any]) -> Settings:
    return load_settings(overrides={"aws": {"region": "us-east-1"}, **sections}, use_files=False)


def test_a_plan_warns_and_changes_nothing(aws: Any) -> None:
    warnings: list[str] = []
    outcome = provision.run(
        _settings(), aws, plan_only=True, hooks=provision.Hooks(on_warning=warnings.append)
    )
    assert outcome.planned_only
    assert outcome.applied == []
    assert "applied" not in outcome.as_dict()
    assert outcome.as_dict()["summary"]["create"] == len(outcome.plan.changes)
    # The open API is the warning the command prints: callers outside the CLI hear it too.
    assert any("ANYONE on the internet" in w for w in warnings)
    assert make_plan(context_for(_settings(), aws)).summary()["noop"] == 0


def test_a_wiring_error_stops_before_any_plan(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from picops.provision import usecase

    def broken(model: Any) -> list[str]:
        return ["IngestFunctionMapping names a queue the model lacks"]

    planned: list[Any] = []
    monkeypatch.setattr("picops.provision.preflight.check_model", broken)
    monkeypatch.setattr(usecase, "make_plan", lambda ctx: planned.append(ctx))
    with pytest.raises(ConfigError, match="names a queue the model lacks"):
        provision.run(_settings(), aws)
    assert planned == []


def test_refusing_a_replacement_applies_nothing(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from picops.provision import usecase

    plan = make_plan(context_for(_settings(), aws))
    first = plan.changes[0] = dataclasses.replace(plan.changes[0], action="replace")
    monkeypatch.setattr(usecase, "make_plan", lambda ctx: plan)
    monkeypatch.setattr(usecase, "preflight", lambda p: None)
    monkeypatch.setattr(usecase, "apply_plan", lambda *a, **k: pytest.fail("applied after a refusal"))

    def refuse(logicals: list[str]) -> None:
        assert logicals == [first.logical]
        raise ConfigError("refused")

    with pytest.raises(ConfigError, match="refused"):
        provision.run(_settings(), aws, hooks=provision.Hooks(confirm_replace=refuse))
