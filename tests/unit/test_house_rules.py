"""House rules over the whole repository, by scanning its text and its AST.

- Code, tests, benchmarks and docs cite the project's own docs/ pages, never a document outside the
  repository or a tracker's issue number (docs/architecture.md: "Code and docs cite this page").
- No function in src/ is longer than 80 lines; a Typer command's signature (its options) does not count,
  since every option is one parameter and a command cannot be split into fewer of them.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SRC = ROOT / "src" / "picops"
SCANNED = ("src", "tests", "bench", "docs")
MAX_LINES = 80
# Functions still over the limit, each to be split; the test fails when one is split and still listed, so the
# list only shrinks.
NOT_YET_SPLIT: set[str] = set()

# An outside design document, the shared folder it lived in, or a tracker's issue number.
_OUTSIDE = re.compile(
    r"DESIGN\.md|\.\./shared|/work/shared|\bissues?\s+#?\d+|#\d{1,4}\b(?=[\s).,;:]|$)", re.I
)
# This file names the patterns it looks for; docs/cli.md is generated from the commands' help.
_SKIP = {Path(__file__).resolve(), (ROOT / "docs" / "cli.md").resolve()}


def outside_citations(text: str) -> list[str]:
    return [m.group(0) for m in _OUTSIDE.finditer(text)]


def _scanned_files() -> list[Path]:
    files = [p for d in SCANNED for p in (ROOT / d).rglob("*") if p.suffix in {".py", ".md", ".toml"}]
    files += [p for p in ROOT.glob("README*") if p.is_file()]
    return sorted(p for p in files if p.resolve() not in _SKIP and "__pycache__" not in p.parts)


def test_nothing_cites_a_document_outside_the_repository() -> None:
    found = [
        f"{p.relative_to(ROOT)}:{n}: {hit}"
        for p in _scanned_files()
        for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
        for hit in outside_citations(line)
    ]
    assert found == [], "cite the project's docs/ pages instead:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("text", "cites"),
    [
        ("the exit codes (DESIGN.md section 4)", True),
        ("see ../shared/notes", True),
        ("the tag ledger (issue 15) shares the table", True),
        ("fixed in #123.", True),
        ('see docs/ingest.md, "Job items"', False),
        ("a hex colour like #ff0000 or a heading ## Renditions", False),
    ],
)
def test_the_citation_scan_tells_outside_from_inside(text: str, cites: bool) -> None:
    assert bool(outside_citations(text)) is cites


def _is_typer_command(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    args = [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]
    return any(a.annotation is not None and "typer." in ast.unparse(a.annotation) for a in args)


def long_functions(source: str, filename: str = "<src>") -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        start = node.body[0].lineno if _is_typer_command(node) else node.lineno
        length = (node.end_lineno or node.lineno) - start + 1
        if length > MAX_LINES:
            found.append(f"{filename} {node.name}: {length} lines")
    return found


def test_no_function_in_src_is_over_80_lines() -> None:
    found = [
        f for p in sorted(SRC.rglob("*.py")) for f in long_functions(p.read_text(), str(p.relative_to(ROOT)))
    ]
    named = {f.split(":")[0] for f in found}
    new = [f for f in found if f.split(":")[0] not in NOT_YET_SPLIT]
    assert new == [], f"split these (at most {MAX_LINES} lines each):\n" + "\n".join(new)
    assert named >= NOT_YET_SPLIT, f"split already: drop from NOT_YET_SPLIT: {sorted(NOT_YET_SPLIT - named)}"


def test_the_length_check_counts_a_body_and_spares_a_typer_signature() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    assert long_functions(f"def f():\n{body}\n")
    assert not long_functions(f"def f():\n{body[: body.rindex(chr(10))]}\n")
    options = "\n".join(f"    o{i}: Annotated[bool, typer.Option('--o{i}')] = False," for i in range(60))
    short_body = "\n".join(f"    x{i} = {i}" for i in range(40))
    assert not long_functions(f"def cmd(\n{options}\n) -> None:\n{short_body}\n")


def test_core_names_a_field_and_the_cli_words_it_as_its_flag() -> None:
    from picops.cli.flags import flag_of
    from picops.errors import UsageError, input_field

    error = UsageError(
        f"{input_field('max_messages')} must be at least 1",
        hint=f"or drop {input_field('filter_expression')} {{field:x}}",
    )
    assert error.fields == ["max_messages", "filter_expression"]
    assert str(error) == "max_messages must be at least 1\nHint: or drop filter_expression {field:x}"
    assert error.worded(flag_of) == ("--max must be at least 1", "or drop --filter {field:x}")
    assert flag_of("role_arn") == "--role-arn"


def test_core_messages_name_fields_not_flags() -> None:
    """A flag written into a core error message is the CLI's word in core: name the field instead."""
    flag_in_raise = re.compile(r"(UsageError|ConfigError|ValidationFailed)\(\s*f?\"--[a-z]")
    found = [
        str(p.relative_to(ROOT))
        for p in sorted((SRC / "core").rglob("*.py"))
        if flag_in_raise.search(p.read_text())
    ]
    assert found == []
