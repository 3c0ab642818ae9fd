"""The CLI's conventions: version, help, JSON on stdout only, exit codes, error mapping."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
import typer
from typer.testing import CliRunner

from picops import __version__
from picops.cli.app import PicopsGroup, app
from picops.errors import ResourceMissing

README = Path(__file__).parents[2] / "README.md"
CLI_MD = Path(__file__).parents[2] / "docs" / "cli.md"


def registered_commands() -> list[tuple[str, Any]]:
    """Every leaf command path (e.g. "local up") with its click command object."""
    root = typer.main.get_command(app)
    found: list[tuple[str, Any]] = []

    def walk(prefix: str, command: Any) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(f"{prefix} {name}".strip(), sub)
        else:
            found.append((prefix, command))

    walk("", root)
    return found


def test_version(cli: Any) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"picops {__version__}"


def test_every_command_has_help_and_is_documented_in_cli_md(cli: Any) -> None:
    reference = CLI_MD.read_text()
    commands = registered_commands()
    assert {"local up", "local down", "local status", "demo"} <= {name for name, _ in commands}
    for name, command in commands:
        assert (command.help or "").strip(), f"`picops {name}` has no help text"
        assert f"`picops {name}`" in reference, f"`picops {name}` is not in docs/cli.md (run `make docs`)"
        result = cli(*name.split(), "--help")
        assert result.exit_code == 0, result.stderr
        assert "Usage" in result.stdout


def test_global_options_are_documented() -> None:
    readme = README.read_text()
    for option in ("--config", "--stack", "--region", "--profile", "--endpoint-url", "--local", "--verbose"):
        assert option in readme


def test_bad_config_exits_2_naming_file_and_key(cli: Any, tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[aws]\nretry_mode = "legacy"\n')
    result = cli("--config", str(cfg), "demo")
    assert result.exit_code == 2
    assert "aws.retry_mode" in result.stderr
    assert str(cfg) in result.stderr


def test_bad_flag_value_exits_2(cli: Any) -> None:
    result = cli("--stack", "Bad_Name", "demo")
    assert result.exit_code == 2
    assert "stack.name" in result.stderr


def test_local_flag_without_a_running_endpoint_exits_2(cli: Any) -> None:
    result = cli("--local", "demo")
    assert result.exit_code == 2
    assert "picops local up --detach" in result.stderr


def test_unreachable_endpoint_exits_3_naming_the_url(cli: Any) -> None:
    from picops.local.endpoint import free_port

    url = f"http://127.0.0.1:{free_port()}"
    result = cli("--endpoint-url", url, "demo", "--json")
    assert result.exit_code == 3
    assert url in result.stderr
    assert result.stdout == ""


def _probe_app(raise_exc: BaseException) -> typer.Typer:
    probe = typer.Typer(cls=PicopsGroup)

    @probe.command()
    def boom() -> None:
        """Raise the given error."""
        raise raise_exc

    @probe.command()
    def other() -> None:
        """Second command so Typer keeps a group."""

    return probe


@pytest.mark.parametrize(
    ("exc", "code", "fragment"),
    [
        (botocore.exceptions.NoCredentialsError(), 3, "no AWS credentials found"),
        (ResourceMissing("queue x does not exist"), 3, "queue x does not exist"),
        (KeyboardInterrupt(), 130, "interrupted"),
        (
            botocore.exceptions.ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "not authorized: sqs:SendMessage"}},
                "SendMessage",
            ),
            3,
            "access denied calling SendMessage",
        ),
    ],
)
def test_errors_map_to_documented_exit_codes(exc: BaseException, code: int, fragment: str) -> None:
    result = CliRunner().invoke(_probe_app(exc), ["boom"])
    assert result.exit_code == code
    assert fragment in result.stderr
    assert result.stdout == ""


def test_demo_json_is_one_document_and_target_line_goes_to_stderr(cli: Any, endpoint: str) -> None:
    result = cli("demo", "--json", endpoint=endpoint)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert document["ok"] is True
    assert document["endpoint"] == endpoint
    assert next(s["name"] for s in document["steps"]) == "endpoint health"
    assert all(step["ok"] for step in document["steps"])
    assert f"target: local endpoint {endpoint}" in result.stderr


def test_demo_human_output_names_the_target_first(cli: Any, endpoint: str) -> None:
    result = cli("demo", endpoint=endpoint)
    assert result.exit_code == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert re.match(rf"target: local endpoint {re.escape(endpoint)}", first)
    assert "demo complete" in result.stdout


def test_demo_refuses_a_non_local_endpoint(cli: Any) -> None:
    result = cli("--endpoint-url", "https://sqs.us-east-1.amazonaws.com", "demo")
    assert result.exit_code == 2
    assert "only on a local endpoint" in result.stderr


def test_real_aws_without_credentials_exits_3_with_a_fix(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    result = cli("status", "--json")
    assert result.exit_code == 3
    assert "no AWS credentials found" in result.stderr
    assert "--profile" in result.stderr
    assert result.stdout == ""


def test_unknown_profile_exits_3_naming_it(cli: Any) -> None:
    result = cli("--profile", "no-such-profile", "status")
    assert result.exit_code == 3
    assert "no-such-profile" in result.stderr
