"""Benchmarks get no privileged access: bench/ imports picops's public API only (checked by AST).

Public: `picops` itself, its top-level modules (`picops.aws`, `picops.config`, `picops.errors`, ...), and
every package whose `__init__` names a curated `__all__` (the core wings, `picops.stack`, `picops.provision`,
`picops.local`), and only the names in that `__all__`. Inner modules (`picops.local.endpoint`) are private.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SRC = ROOT / "src" / "picops"
BENCH = ROOT / "bench"


def _is_public_module(module: str) -> bool:
    parts = module.split(".")
    if parts[0] != "picops" or any(p.startswith("_") for p in parts[1:]):
        return False
    if len(parts) == 1:
        return True
    path = SRC.joinpath(*parts[1:])
    if len(parts) == 2 and path.with_suffix(".py").is_file():
        return True  # picops.aws, picops.config, picops.errors, ...
    return (path / "__init__.py").is_file() and hasattr(importlib.import_module(module), "__all__")


def _public_names(module: str) -> set[str] | None:
    """The module's `__all__`, or None when it has none (then every name without a leading underscore)."""
    exported = getattr(importlib.import_module(module), "__all__", None)
    return None if exported is None else set(exported)


def violations(source: str, filename: str = "<bench>") -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "picops" and not _is_public_module(alias.name):
                    found.append(f"{filename}:{node.lineno} import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "picops":
                continue
            if not _is_public_module(node.module):
                found.append(f"{filename}:{node.lineno} from {node.module} (an inner module)")
                continue
            allowed = _public_names(node.module)
            for alias in node.names:
                name = alias.name
                if allowed is None:
                    public = not name.startswith("_") or name == "__version__"
                else:
                    public = name in allowed
                if not public:
                    found.append(f"{filename}:{node.lineno} from {node.module} import {name} (not public)")
    return found


def test_benchmarks_import_only_the_public_api() -> None:
    problems: list[str] = []
    for path in sorted(BENCH.rglob("*.py")):
        problems += violations(path.read_text(), str(path.relative_to(ROOT)))
    assert problems == [], "bench/ reaches past picops's public API:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "source",
    [
        "from picops.local.endpoint import free_port",
        "import picops.provision.apply",
        "from picops.core.dlq import _is_missing",
        "from picops.core.dlq.queues import resolve_queue",
        "from picops.provision import live",  # a submodule, not in __all__
        "def f():\n    from picops.stack.names import StackNames",  # lazy imports count too
    ],
)
def test_the_check_catches_private_access(source: str) -> None:
    assert violations(source)


@pytest.mark.parametrize(
    "source",
    [
        "from picops.local import free_port, LocalRuntime",
        "from picops.provision import make_plan, Executor",
        "from picops.stack import StackNames",
        "from picops.core.tagging.sources import iter_csv_rows",
        "from picops.aws import ClientFactory",
        "from picops import __version__",
        "import picops.config",
    ],
)
def test_the_public_api_is_allowed(source: str) -> None:
    assert violations(source) == []


@pytest.mark.parametrize(
    "package",
    [
        "picops.local",
        "picops.provision",
        "picops.stack",
        "picops.core.bookings",
        "picops.core.dlq",
        "picops.core.ingest",
        "picops.core.tagging",
    ],
)
def test_every_exported_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"
    with pytest.raises(AttributeError):
        _ = module.no_such_name
