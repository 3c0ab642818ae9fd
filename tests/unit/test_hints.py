"""The one rule for suggested commands (picops.cli.hints): a hint keeps the options that chose the target."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from picops.cli.hints import Target, command, rewrite

SRC = Path(__file__).resolve().parents[2] / "src" / "picops"
FULL = Target(
    local=True,
    stack="blue",
    config=Path("/etc/picops/blue.toml"),
    profile="ops",
    region="eu-west-1",
    port=4999,
)
FULL_OPTIONS = [
    "--config /etc/picops/blue.toml",
    "--local",
    "--stack blue",
    "--profile ops",
    "--region eu-west-1",
]
# Strings naming `picops <command>` that are not suggestions to run it (a description of the command
# itself, a table title, or text read outside the CLI, in the AWS console).
NOT_SUGGESTIONS = {
    ("cli/invoke.py", "picops invoke runs a handler"),
    ("local/runtime.py", "picops local run pumps only"),
    ("cli/demo_steps/dlq.py", "picops dlq list"),
    ("core/tagging/batch_ops.py", "picops tag-backfill of"),
}
# Alarm texts (read in the AWS console, never rewritten for a target): the builders, the function table.
CONSOLE_TEXT_DIRS = ("stack/builders/", "functions.py")


def test_a_suggested_command_carries_every_target_option() -> None:
    line = command(FULL, "provision --plan")
    assert line == (
        "picops --config /etc/picops/blue.toml --local --stack blue --profile ops --region eu-west-1 "
        "provision --plan"
    )
    endpoint = Target(endpoint_url="http://127.0.0.1:4999", stack="blue")
    assert command(endpoint, "dlq peek IngestDLQ") == (
        "picops --endpoint-url http://127.0.0.1:4999 --stack blue dlq peek IngestDLQ"
    )


def test_starting_an_endpoint_keeps_the_port_not_the_target() -> None:
    assert command(FULL, "local up --detach") == "picops local up --detach --port 4999"
    assert command(Target(local=True, port=4566), "local up --detach") == "picops local up --detach"
    assert command(FULL, "local down") == "picops local down"
    # `local run` works on a stack on the target: it keeps the options.
    assert command(FULL, "local run").startswith("picops --config /etc/picops/blue.toml --local")


def test_options_already_in_the_suggestion_are_not_repeated_and_values_are_quoted() -> None:
    line = command(Target(stack="blue", config=Path("my dir/p.toml")), "status --stack green")
    assert line == "picops --config 'my dir/p.toml' status --stack green"


def test_rewrite_changes_only_backticked_commands() -> None:
    text = "interrupted: continue with `picops tag-backfill --resume --state s.json` (same source flags)"
    assert rewrite(text, Target(local=True)) == (
        "interrupted: continue with `picops --local tag-backfill --resume --state s.json` (same source flags)"
    )
    assert rewrite("nothing to suggest", FULL) == "nothing to suggest"
    assert rewrite(text, None) == text


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _printable_strings() -> list[tuple[str, int, str]]:
    """Every string literal in src/ the CLI may print: not docstrings, not `help=` texts (those are the
    command reference, not hints). f-string placeholders read as X."""
    found: list[tuple[str, int, str]] = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text())
        skip = _docstring_nodes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "help":
                skip |= {id(sub) for sub in ast.walk(node.value)}
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.JoinedStr):
                skip |= {id(v) for v in node.values}
                text = "".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
            else:
                continue
            found.append((path.relative_to(SRC).as_posix(), node.lineno, text))
    return found


def _commands() -> set[str]:
    """Every command path (`status`, `dlq peek`, ...) the CLI has."""
    import typer

    from picops.cli.app import app

    paths: set[str] = set()
    root = typer.main.get_command(app)
    for name, cmd in getattr(root, "commands", {}).items():
        subs = getattr(cmd, "commands", None)
        paths |= {f"{name} {sub}" for sub in subs} if subs else {name}
    return paths


def test_every_hint_string_in_the_source_goes_through_the_rule() -> None:
    """Each `picops <command>` a message suggests is backticked (so the rule finds it) and, rewritten for a
    target, carries every option that chose it (or, for `local up`, the port)."""
    commands = "|".join(sorted(_commands(), key=len, reverse=True))
    mention = re.compile(rf"picops (?:{commands})\b")
    suggested = re.compile(r"`picops( [^`]*)?`")
    checked = 0
    for where, line, text in _printable_strings():
        if where.startswith(CONSOLE_TEXT_DIRS) or not mention.search(text):
            continue
        if any(where == f and phrase in text for f, phrase in NOT_SUGGESTIONS):
            continue
        bare = mention.findall(suggested.sub("", text))
        assert not bare, f"{where}:{line}: a suggested command outside backticks escapes the rule: {text!r}"
        for match in suggested.finditer(rewrite(text, FULL)):
            cmd = match.group(0).strip("`")
            checked += 1
            if cmd.startswith(("picops local up", "picops local down", "picops local status")):
                if cmd.startswith("picops local up"):
                    assert "--port 4999" in cmd, f"{where}:{line}: {cmd}"
                continue
            for option in FULL_OPTIONS:
                assert option in cmd, f"{where}:{line}: {cmd!r} lacks {option}"
    assert checked >= 20  # the scan found the hints (a broken scan must not pass vacuously)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--stack", "s1", "dlq", "peek", "--bogus"], "error: No such option: --bogus"),
        (["dlq", "peek"], "error: Missing argument 'QUEUE'."),
    ],
)
def test_a_usage_error_is_one_line(cli: object, args: list[str], expected: str) -> None:
    result = cli(*args)  # type: ignore[operator]
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected)
    assert "`picops dlq peek --help`" in lines[0]
    assert "╭" not in result.stderr
    assert "Error" not in result.stderr
