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
        module_name, attribute = (home, name) if isinstance(home, str) else home
        if module_name == package:
            value: Any = importlib.import_module(f"{package}.{attribute}")
        else:
            value = getattr(importlib.import_module(module_name), attribute)
        vars(sys.modules[package])[name] = value  # later lookups skip this function
        return value

    return __getattr__
