"""Package faces that load their names on first use (PEP 562), so importing one module of a package does
not load its siblings (docs/architecture.md, "Cold start")."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

# name -> the module defining it (same name there), or (module, its name there); a submodule exported whole
# is (the package, the submodule's name).
Homes = Mapping[str, str | tuple[str, str]]


def exports(package: str, homes: Homes) -> Callable[[str], Any]:
    """The package's module-level `__getattr__`: resolves a name from `homes`, then caches it."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, attribute = _where(name, home)
        if module_name == package:
            value: Any = importlib.import_module(f"{package}.{attribute}")
            vars(sys.modules[package])[name] = value  # later lookups skip this function
            return value
        module = importlib.import_module(module_name)
        # Importing a submodule binds it on the package under its own name, which can be an exported name
        # too (`reprocess` the function lives in `reprocess` the module): bind every name that module
        # exports, so later lookups (which skip this function) find the function, not the module.
        namespace = vars(sys.modules[package])
        for exported, where in homes.items():
            if _where(exported, where)[0] == module_name:
                namespace[exported] = getattr(module, _where(exported, where)[1])
        return namespace[name]

    return __getattr__


def _where(name: str, home: str | tuple[str, str]) -> tuple[str, str]:
    return (home, name) if isinstance(home, str) else home
