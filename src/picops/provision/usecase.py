"""`provision.run`: the provision use case (validate, preflight, plan, apply), callable without the CLI.

`picops provision` and the demo's provision step both call it, so both check the same things in the same
order: the model's wiring, the security warnings, the bundle's entry points (on AWS), the live plan and its
preflight, then, unless only a plan is wanted, the confirmation of replacements and the apply itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from picops.aws import ClientFactory
from picops.config import Settings
from picops.provision import live
from picops.provision.apply import Progress, apply_plan
from picops.provision.plan import Change, Plan, context_for, make_plan
from picops.provision.preflight import preflight, preflight_model, security_warnings
from picops.stack.model import FunctionSpec


def _no_confirmation_needed(logicals: list[str]) -> None:
    """Replacements go ahead: the caller asked for no question (the demo, `--yes`)."""


@dataclass(frozen=True)
class Hooks:
    """What the caller sees and decides while the use case runs; every hook is optional."""

    on_warning: Callable[[str], None] = lambda warning: None
    # Called with the logical names a replacement would delete and re-create; raises to refuse.
    confirm_replace: Callable[[list[str]], None] = _no_confirmation_needed
    on_progress: Progress | None = None
    # The Lambda bundle, built only when a function is created or updated (None: picops's own builder).
    build_bundle: Callable[[], Any] | None = None


@dataclass
class Outcome:
    live: live.Context
    plan: Plan
    applied: list[Change] = field(default_factory=list)
    planned_only: bool = False

    @property
    def stack(self) -> str:
        return self.live.model.stack

    def as_dict(self) -> dict[str, Any]:
        """The `provision --json` document: the plan, plus `applied` once applied."""
        document = self.plan.as_dict()
        return document if self.planned_only else document | {"applied": len(self.applied)}


def prepare(
    settings: Settings, factory: ClientFactory, hooks: Hooks | None = None
) -> tuple[live.Context, Plan]:
    """Validate the model, warn about what weakens it, check entry points, then plan and preflight."""
    hooks = hooks or Hooks()
    ctx = context_for(settings, factory)
    preflight_model(ctx.model)
    for warning in security_warnings(ctx.model):
        hooks.on_warning(warning)
    if not factory.is_local:
        # On AWS a mapping or route to a handler the bundle lacks fails every event (into a DLQ, alarms
        # firing); the local runtime skips such mappings itself.
        from picops.provision.bundle import require_entry_points

        require_entry_points({f.logical: f.handler for f in ctx.model.of_type(FunctionSpec)})
    plan = make_plan(ctx)
    preflight(plan)
    return ctx, plan


def run(
    settings: Settings, factory: ClientFactory, *, plan_only: bool = False, hooks: Hooks | None = None
) -> Outcome:
    """Make live AWS match the model: prepare, then (unless `plan_only`) confirm replacements and apply."""
    hooks = hooks or Hooks()
    ctx, plan = prepare(settings, factory, hooks)
    if plan_only:
        return Outcome(ctx, plan, planned_only=True)
    replaces = [c.logical for c in plan.pending if c.action == "replace"]
    if replaces:
        hooks.confirm_replace(replaces)
    applied = apply_plan(plan, settings, hooks.build_bundle or _default_bundle(settings), hooks.on_progress)
    return Outcome(ctx, plan, applied)


def _default_bundle(settings: Settings) -> Callable[[], Any]:
    def build() -> Any:
        from picops.provision.bundle import build_bundle

        return build_bundle(settings)

    return build
