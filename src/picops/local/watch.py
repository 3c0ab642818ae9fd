"""`picops local run --watch`: reload the handlers when their source changes (docs/local.md, "Watch mode").

A `SourceWatcher` polls the modification times of the `.py` files under a package's directory (no file
watching dependency; a few hundred stats every half second cost nothing next to an SQS poll). When files
change, the runtime pauses new invocations, waits for the running ones to finish (a handler is never swapped
mid-invocation), drops every loaded module of the reloadable packages from `sys.modules` and imports the
handlers again, so a change anywhere in what a handler imports is picked up, not only in its own module.
The endpoint, the queues and the runtime's own state are untouched: only handler code is replaced. Modules
outside the reloadable packages (the runtime itself, config) are reported as needing a restart.

A reload is all or nothing: if a handler fails to import (a syntax error half-way through an edit), the
previous modules are put back and the functions keep running the code they had.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

# What the Lambda bundle holds besides the shared base modules: what a handler edit touches.
BUNDLE_PACKAGES = ("picops.core", "picops.handlers")
POLL_S = 0.5


def _mtimes(root: Path) -> dict[Path, int]:
    found: dict[Path, int] = {}
    for path in root.rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        try:
            found[path] = path.stat().st_mtime_ns
        except OSError:  # removed between the listing and the stat: reported as removed next time
            continue
    return found


class SourceWatcher:
    """The `.py` files under `root` (the directory of package `package`), compared with the last look."""

    def __init__(
        self,
        root: Path,
        package: str,
        *,
        reloadable: tuple[str, ...],
        poll_s: float = POLL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = root
        self.package = package
        self.reloadable = reloadable
        self.poll_s = poll_s
        self._clock = clock
        self._seen = _mtimes(root)
        self._last = clock()

    def changes(self) -> list[Path]:
        """Files added, removed or modified since the last call (at most one scan per `poll_s`)."""
        now = self._clock()
        if now - self._last < self.poll_s:
            return []
        self._last = now
        current = _mtimes(self.root)
        changed = {p for p, m in current.items() if self._seen.get(p) != m}
        changed |= self._seen.keys() - current.keys()
        self._seen = current
        return sorted(changed)

    def module_of(self, path: Path) -> str:
        parts = [self.package, *path.relative_to(self.root).with_suffix("").parts]
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def is_reloadable(self, module: str) -> bool:
        return in_packages(module, self.reloadable)

    def relative(self, path: Path) -> str:
        return str(Path(self.package.replace(".", "/")) / path.relative_to(self.root))


def in_packages(module: str, packages: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def purge(packages: tuple[str, ...]) -> dict[str, ModuleType]:
    """Drop the loaded modules of `packages` from `sys.modules`; what was dropped (for `restore`)."""
    dropped = {name: m for name, m in list(sys.modules.items()) if in_packages(name, packages)}
    for name in dropped:
        del sys.modules[name]
    return dropped


def restore(dropped: dict[str, ModuleType], packages: tuple[str, ...]) -> None:
    """Undo `purge`: the half-imported new modules out, the previous ones back."""
    purge(packages)
    sys.modules.update(dropped)


def _referenced_modules(module: ModuleType) -> set[str]:
    """The modules `module`'s globals come from: imported modules and the defining module of each name."""
    names: set[str] = set()
    for value in vars(module).values():
        if isinstance(value, ModuleType):
            names.add(value.__name__)
        else:
            owner = getattr(value, "__module__", None)
            if isinstance(owner, str):
                names.add(owner)
    return names


def dependencies(root: str, packages: tuple[str, ...]) -> set[str]:
    """The modules of `packages` that module `root` uses, directly or through each other (as imported now;
    a module imported only inside a function body is not seen until it has been imported)."""
    seen: set[str] = set()
    parents: set[str] = set()
    todo = [root]
    while todo:
        name = todo.pop()
        if name in seen or not in_packages(name, packages):
            continue
        seen.add(name)
        module = sys.modules.get(name)
        if module is not None:
            todo.extend(_referenced_modules(module))
        # A package's __init__ runs before its submodules, so its change matters to them; its globals are
        # not followed (every loaded submodule is an attribute of its package, used or not).
        parents.update(name.rsplit(".", i)[0] for i in range(1, name.count(".") + 1))
    return seen | {p for p in parents if in_packages(p, packages)}


@dataclass
class Reload:
    """One reload as the run's summary reports it (`reloads[]`)."""

    files: list[str]
    functions: list[str] = field(default_factory=list)
    restart_needed: list[str] = field(default_factory=list)
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "functions": self.functions,
            "restart_needed": self.restart_needed,
            "error": self.error,
        }

    def describe(self) -> str:
        if self.error:
            return f"reload failed, the previous code keeps running: {self.error}"
        parts = []
        if self.functions:
            parts.append("reloaded " + ", ".join(self.functions))
        elif not self.restart_needed:
            parts.append("reloaded; no running function imports the changed code")
        if self.restart_needed:
            parts.append(
                "not reloaded (the runtime's own code; restart to use it): " + ", ".join(self.restart_needed)
            )
        return f"{', '.join(self.files)} changed: " + "; ".join(parts)
