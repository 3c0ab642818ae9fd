"""Per-invocation state built by the root callback: options, then Settings and clients on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from picops.cli import hints
from picops.cli.output import Output
from picops.errors import UsageError

if TYPE_CHECKING:
    # The SDK and the settings come in when a command first needs them, not when its help is shown.
    from picops.aws import ClientFactory
    from picops.config import Settings
    from picops.strict.guard import Guard


@dataclass
class AppState:
    config_path: Path | None = None
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    use_local: bool = False
    verbose: bool = False
    _settings: Settings | None = None
    _factory: ClientFactory | None = None
    # Strict local mode's guard on this run's clients (None on AWS or with `[local] enforce_iam = false`).
    guard: Guard | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            overrides = {section: dict(values) for section, values in self.overrides.items()}
            if self.use_local:
                from picops.local.endpoint import read_local_state

                state = read_local_state()
                if state is None:
                    raise UsageError(
                        "--local was given but no local endpoint is running",
                        hint="start one with `picops local up --detach`",
                    )
                if overrides.get("aws", {}).get("endpoint_url"):
                    raise UsageError("--local and --endpoint-url both name an endpoint: give one")
                overrides.setdefault("aws", {})["endpoint_url"] = state.url
            from picops.config import load_settings

            self._settings = load_settings(self.config_path, overrides)
        return self._settings

    @property
    def factory(self) -> ClientFactory:
        if self._factory is None:
            from picops.aws import ClientFactory

            factory = ClientFactory.from_settings(self.settings)
            local = self.settings.local
            if factory.is_local and (local.enforce_iam or local.enforce_limits):
                from picops.strict.guard import guard_for

                self.guard = guard_for(self.settings, factory)
                factory.installers = (self.guard.install,)
            self._factory = factory
        return self._factory

    def hint_target(self) -> hints.Target:
        """The global options this invocation was given, for the commands it suggests (cli/hints.py)."""
        aws = self.overrides.get("aws", {})
        url = aws.get("endpoint_url")
        port = hints.port_of(url)
        if self.use_local:
            from picops.local.endpoint import read_local_state

            try:
                recorded = read_local_state()
            except UsageError:
                recorded = None  # the corrupt record is reported where it is used, not by every hint
            port = hints.port_of(recorded.url) if recorded is not None else None
        return hints.Target(
            local=self.use_local,
            endpoint_url=url,
            stack=self.overrides.get("stack", {}).get("name"),
            config=self.config_path,
            profile=aws.get("profile"),
            region=aws.get("region"),
            port=port,
        )

    def output(self, json_mode: bool = False) -> Output:
        return Output(json_mode=json_mode, verbose=self.verbose, target=self.hint_target())


def get_state(ctx: typer.Context) -> AppState:
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj
