"""The planner: read live state (describe/list calls only) and diff it, field by field, against the model.

Each resource gets one action: `create` (missing), `update` (fields differ and AWS can change them in place),
`replace` (a field AWS can't change in place differs) or `noop`. The executor runs exactly these changes, so a
plan with only `noop`s means an apply makes no mutating call at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from picops.aws import ClientFactory
from picops.config import Settings
from picops.provision import kinds, live
from picops.stack.build import build_model
from picops.stack.model import EventSourceMapping, Resource, StackModel
from picops.stack.names import StackNames

Action = Literal["create", "update", "replace", "noop"]
ACTIONS: tuple[Action, ...] = ("create", "update", "replace", "noop")


@dataclass(frozen=True)
class Change:
    resource: Resource
    action: Action
    # field -> {"live": ..., "desired": ...} for updates and replaces.
    diff: dict[str, dict[str, Any]] = field(default_factory=dict)
    live: dict[str, Any] | None = None

    @property
    def logical(self) -> str:
        return self.resource.logical

    @property
    def local(self) -> bool:
        return isinstance(self.resource, EventSourceMapping) and self.resource.local

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "logical": self.logical,
            "type": self.resource.type,
            "action": self.action,
            "diff": self.diff,
        }
        if self.local:
            # Not created in the emulator: recorded for `picops local run` (docs/local.md).
            doc["local"] = True
        return doc


@dataclass
class Plan:
    ctx: live.Context
    changes: list[Change]

    @property
    def model(self) -> StackModel:
        return self.ctx.model

    def summary(self) -> dict[str, int]:
        return {action: sum(1 for c in self.changes if c.action == action) for action in ACTIONS}

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.action != "noop"]

    def as_dict(self) -> dict[str, Any]:
        return {"changes": [c.as_dict() for c in self.changes], "summary": self.summary()}


def context_for(settings: Settings, factory: ClientFactory) -> live.Context:
    account = factory.account_id()
    region = factory.region
    model = build_model(settings, account, region, local=factory.is_local)
    return live.Context(factory=factory, model=model, names=StackNames(settings, account, region))


def diff_fields(desired: dict[str, Any], current: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        key: {"live": current.get(key), "desired": want}
        for key, want in desired.items()
        if _normal(current.get(key)) != _normal(want)
    }


def _normal(value: Any) -> Any:
    # Lists whose order AWS does not preserve (response types, actions) compare as sorted.
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return sorted(value)
    return value


def plan_resource(resource: Resource, ctx: live.Context) -> Change:
    current = live.read(resource, ctx)
    if current is None:
        return Change(resource, "create")
    diff = diff_fields(live.resolved_desired(resource, ctx), current)
    if not diff:
        return Change(resource, "noop", live=current)
    action: Action = "replace" if set(diff) & resource.replace_fields else "update"
    return Change(resource, action, diff, current)


def make_plan(ctx: live.Context) -> Plan:
    """Plan every resource in dependency order (later readers use identifiers earlier ones found)."""
    changes: list[Change] = []
    for resource in ctx.model.ordered():
        change = plan_resource(resource, ctx)
        if kinds.referenced(resource):
            # Referenced, never managed: provision reports it but the executor never touches it.
            change = Change(resource, "noop", live=change.live) if change.action != "create" else change
        changes.append(change)
    return Plan(ctx, changes)
