"""A Lambda's settings (settings_from_env, read without pydantic-settings) are exactly what the CLI's
reading of the same environment (load_settings through pydantic-settings) gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from picops.config import load_settings, settings_from_env
from picops.errors import ConfigError
from picops.functions import LOGICAL_NAMES
from picops.stack.build import build_model


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("PICOPS_"):
            monkeypatch.delenv(key)


def _both() -> tuple[object, object]:
    return settings_from_env(), load_settings(use_files=False)


@pytest.mark.parametrize("function", LOGICAL_NAMES)
def test_every_functions_environment_reads_the_same_both_ways(
    monkeypatch: pytest.MonkeyPatch, function: str
) -> None:
    settings = load_settings(
        overrides={
            "stack": {"name": "pics"},
            "ingest": {"prefix": "drop/", "suffixes": (".png", ".json"), "max_pixels": 1000},
            "moderation": {"statuses": ("ok", "bad"), "on_remove": "remove", "sweep_margin_s": 42.5},
            "bookings": {"authorizer": "jwt", "jwt_issuer": "https://idp.example/p", "jwt_audience": ["a"]},
        },
        use_files=False,
    )
    spec = build_model(settings, "123456789012", "us-east-1").get(function)
    for key, value in spec.env.items():  # type: ignore[attr-defined]
        monkeypatch.setenv(key, value)
    inside, cli = _both()
    assert inside == cli
    assert type(inside) is type(cli)


def test_shortcuts_nesting_json_and_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICOPS_STACK__NAME", "long-form")
    monkeypatch.setenv("PICOPS_STACK", "short-form")  # the shortcut wins
    monkeypatch.setenv("picops_ingest__batch_size", "3")
    monkeypatch.setenv("PICOPS_INGEST__SUFFIXES", '[".gif"]')
    monkeypatch.setenv("PICOPS_DEPLOY__FUNCTIONS", json.dumps({"PaymentFunction": {"timeout_s": 5}}))
    monkeypatch.setenv("PICOPS_STATE_DIR", "/tmp/elsewhere")  # not a setting
    inside, cli = _both()
    assert inside == cli
    assert inside.stack.name == "short-form"  # type: ignore[attr-defined]
    assert inside.ingest.suffixes == (".gif",)  # type: ignore[attr-defined]
    assert inside.deploy.functions["PaymentFunction"].timeout_s == 5  # type: ignore[attr-defined]


def test_a_bad_value_is_a_config_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICOPS_INGEST__BATCH_SIZE", "many")
    for read in (settings_from_env, lambda: load_settings(use_files=False)):
        with pytest.raises(ConfigError, match="PICOPS_INGEST__BATCH_SIZE"):
            read()


def test_a_lambda_never_imports_pydantic_settings() -> None:
    code = (
        "import sys, picops.config as c; c.settings_from_env(); "
        "print(any(m.startswith('pydantic_settings') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"
