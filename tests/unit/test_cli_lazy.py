"""`picops --version` and `picops --help` start without the AWS SDK or any command module, and lazily loaded
commands are exactly the commands they stand in for (picops/cli/commands.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer

from picops.cli.app import app, load_command
from picops.cli.commands import COMMANDS

HEAVY = ("boto3", "pydantic_settings", "picops.aws", "picops.config", "picops.core", "picops.stack")
COMMAND_MODULES = sorted({entry.module for entry in COMMANDS})

_PROBE = """
import json, sys
from picops.cli.main import main
sys.argv = ["picops", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
sys.stdout.flush()
print("\\n@@" + json.dumps(sorted(sys.modules)))
"""


def _modules_after(*args: str) -> tuple[str, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(list(args))], capture_output=True, text=True, check=True
    )
    out, _, modules = done.stdout.rpartition("\n@@")
    return out, set(json.loads(modules))


@pytest.mark.parametrize("args", [["--version"], ["--help"], []], ids=["version", "help", "bare"])
def test_start_up_imports_no_sdk_settings_or_command_module(args: list[str]) -> None:
    out, modules = _modules_after(*args)
    assert "picops" in out
    loaded = sorted(m for m in modules if m.split(".")[0] in {"boto3", "botocore", "pydantic_settings"})
    assert loaded == []
    assert sorted(m for m in modules for heavy in HEAVY if m == heavy or m.startswith(heavy + ".")) == []
    assert sorted(m for m in COMMAND_MODULES if m in modules) == []


def test_a_command_loads_only_its_own_module() -> None:
    out, modules = _modules_after("dlq", "--help")
    assert "redrive" in out
    assert "picops.cli.dlq" in modules
    # A command's help needs neither the SDK nor the settings (they load when the command runs).
    assert sorted(m for m in modules if m.split(".")[0] in {"boto3", "pydantic_settings"}) == []
    assert sorted(m for m in COMMAND_MODULES if m in modules and m != "picops.cli.dlq") == []


@pytest.mark.parametrize("entry", COMMANDS, ids=lambda e: e.name)
def test_each_summary_is_the_first_paragraph_of_the_loaded_commands_help(entry: object) -> None:
    command = load_command(entry)  # type: ignore[arg-type]
    assert command.name == entry.name  # type: ignore[attr-defined]
    assert (command.help or "").split("\n\n")[0] == entry.summary  # type: ignore[attr-defined]


def _help(root: typer.core.TyperGroup, capsys: pytest.CaptureFixture[str]) -> str:
    root.get_help(typer.Context(root, info_name="picops"))
    return capsys.readouterr().out


def test_root_help_is_the_same_before_and_after_every_command_is_loaded(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    root = typer.main.get_command(app)
    assert isinstance(root, typer.core.TyperGroup)
    lazy = _help(root, capsys)
    assert list(root.commands) == [entry.name for entry in COMMANDS]  # reading it loads them all
    eager = _help(root, capsys)
    assert lazy == eager
    for entry in COMMANDS:
        assert f" {entry.name} " in lazy
