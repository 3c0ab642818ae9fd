"""Alias `live`'s weighted routing on the local runtime: what Lambda does with an alias's RoutingConfig.

While a release shifts traffic (provision/release/shift.py), alias `live` points at the old version and
sends a share (AdditionalVersionWeights) to the new one. Each invocation draws which version it runs as;
one routed to an additional version runs with that version's published configuration (handler, environment,
timeout: what PublishVersion froze) and, when a deploy from this machine kept its bundle, that bundle's code
in a process of its own (picops.local.versions); its log lines say `Version: N`.
The alias is re-read at most every `refresh_s` seconds, so a shift step or a rollback reaches the runtime
within that time.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.exceptions

from picops.local.invoke import FunctionTarget
from picops.local.versions import bundles_root, code_dir
from picops.strict.guard import as_operator

REFRESH_S = 0.5


class AliasRouting:
    def __init__(
        self,
        lam: Any,
        *,
        rng: random.Random | None = None,
        refresh_s: float = REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
        bundles: Path | None = None,
    ) -> None:
        self.lam, self.rng, self.refresh_s, self.clock = lam, rng or random.Random(), refresh_s, clock
        self.bundles = bundles or bundles_root()
        self._lock = threading.Lock()
        self._aliases: dict[str, tuple[float, tuple[str, dict[str, float]] | None]] = {}
        self._versions: dict[tuple[str, str], FunctionTarget] = {}

    def pick(self, target: FunctionTarget) -> FunctionTarget:
        """`target` as the version this invocation runs as."""
        alias = self._alias(target)
        if alias is None:
            return target
        _main, weights = alias
        with self._lock:
            draw = self.rng.random()
        share = 0.0
        for version, weight in sorted(weights.items()):
            share += weight
            if draw < share:
                return self._version_target(target, version)
        return target  # the alias's own version: the runtime's target as it always was

    def _alias(self, target: FunctionTarget) -> tuple[str, dict[str, float]] | None:
        now = self.clock()
        with self._lock:
            cached = self._aliases.get(target.name)
        if cached is not None and now - cached[0] < self.refresh_s:
            return cached[1]
        alias_name = target.arn.rsplit(":", 1)[-1] if target.arn.count(":") >= 7 else "live"
        try:
            # The runtime's own reading, as Lambda's front end does it: not the function's role.
            with as_operator():
                found = self.lam.get_alias(FunctionName=target.name, Name=alias_name)
            weights = (found.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
            value: tuple[str, dict[str, float]] | None = (
                str(found["FunctionVersion"]),
                {str(v): float(w) for v, w in weights.items()},
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
            value = None  # no alias (a function `invoke` made by hand): the runtime's target as it is
        with self._lock:
            self._aliases[target.name] = (now, value)
        return value

    def _version_target(self, target: FunctionTarget, version: str) -> FunctionTarget:
        key = (target.name, version)
        with self._lock:
            known = self._versions.get(key)
        if known is not None:
            return known
        with as_operator():
            config = self.lam.get_function_configuration(FunctionName=target.name, Qualifier=version)
        routed = dataclasses.replace(
            target,
            version=version,
            handler=str(config.get("Handler") or target.handler),
            env=dict((config.get("Environment") or {}).get("Variables") or {}),
            timeout_s=int(config.get("Timeout") or target.timeout_s),
            code_dir=str(code_dir(str(config.get("CodeSha256") or ""), self.bundles) or ""),
        )
        with self._lock:
            self._versions[key] = routed
        return routed
