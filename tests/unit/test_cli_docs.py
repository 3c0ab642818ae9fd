"""docs/cli.md is generated from the Typer app and must match the code; every command and option has help
that speaks to users."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from picops.cli import docs
from picops.cli.app import app
from tests.unit.test_house_rules import outside_citations

ROOT = Path(__file__).parents[2]
CLI_MD = ROOT / "docs" / "cli.md"


def _walk(path: str, command: Any) -> list[tuple[str, Any]]:
    found = [(path, command)]
    for name, sub in (getattr(command, "commands", None) or {}).items():
        found.extend(_walk(f"{path} {name}", sub))
    return found


def all_commands() -> list[tuple[str, Any]]:
    return _walk("picops", typer.main.get_command(app))


def test_cli_md_is_up_to_date_with_the_code() -> None:
    assert CLI_MD.exists(), "docs/cli.md is missing: run `make docs`"
    assert CLI_MD.read_text() == docs.render(), "docs/cli.md is out of date with the CLI: run `make docs`"


def test_cli_md_documents_every_command_and_option() -> None:
    text = CLI_MD.read_text()
    for path, command in all_commands():
        assert f"`{path}`" in text, f"{path} is not in docs/cli.md"
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("-"):
                    assert opt in text, f"{path} {opt} is not in docs/cli.md"


def test_every_command_argument_and_option_has_help() -> None:
    assert docs.missing_help() == []


def test_missing_help_is_detected() -> None:
    probe = typer.Typer(help="Probe.")

    @probe.command()
    def first(count: int = typer.Option(1, "--count"), name: str = typer.Argument("x")) -> None:
        pass

    @probe.command()
    def second(flag: bool = typer.Option(False, "--flag", help="Documented.")) -> None:
        """Documented."""

    assert docs.missing_help(typer.main.get_command(probe)) == [
        "picops first (command)",
        "picops first --count",
        "picops first name",
    ]


def test_a_stale_cli_md_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The comparison is exact: one changed help text makes the page stale.
    fresh = docs.render()
    local_up = next(c for p, c in all_commands() if p == "picops local up")
    monkeypatch.setattr(local_up, "help", "A different help text.")
    monkeypatch.setattr(docs, "root_command", lambda: _patched_root(local_up))
    assert docs.render() != fresh


def _patched_root(local_up: Any) -> Any:
    root = typer.main.get_command(app)
    local = root.commands["local"]
    local.commands["up"] = local_up
    return root


@pytest.mark.parametrize("path", [p for p, _ in all_commands()])
def test_help_speaks_to_users(path: str) -> None:
    from typer.testing import CliRunner

    args = path.split()[1:]
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output, f"`{path} --help` shows a <bool> metavar on a flag"
    assert "design note" not in result.output, f"`{path} --help` refers to a design note"
    assert outside_citations(result.output) == [], f"`{path} --help` cites a document outside the repository"


def test_make_docs_writes_the_page(tmp_path: Path) -> None:
    target = tmp_path / "cli.md"
    subprocess.run([sys.executable, "-m", "picops.cli.docs", str(target)], check=True, cwd=ROOT)
    text = target.read_text()
    assert text == CLI_MD.read_text()
    assert re.search(r"^## `picops dlq redrive`$", text, re.M) is None  # sub-commands sit one level down
    assert re.search(r"^### `picops dlq redrive`$", text, re.M)
