"""`picops destroy`: delete what provision created, in reverse dependency order.

Data is never deleted by accident: non-empty buckets and tables are refused (all listed, before anything is
deleted) unless `delete_data` is set; queues with messages are reported. An external ModerationTable is never
touched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from picops.errors import UsageError
from picops.provision import kinds, live
from picops.provision.kinds.bucket import own_logs
from picops.stack.model import Queue, Resource


@dataclass(frozen=True)
class Removal:
    logical: str
    type: str
    name: str
    action: str  # "delete" | "absent" | "skip"
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "logical": self.logical,
            "type": self.type,
            "name": self.name,
            "action": self.action,
            "detail": self.detail,
        }


def plan_destroy(ctx: live.Context) -> list[tuple[Resource, str, str]]:
    """(resource, action, detail) in deletion order; reads only (describe/list)."""
    # Reading in dependency order fills in identifiers (API id, stream ARN) dependants need.
    present: dict[str, bool] = {}
    for resource in ctx.model.ordered():
        present[resource.logical] = live.read(resource, ctx) is not None
    out: list[tuple[Resource, str, str]] = []
    for resource in reversed(ctx.model.ordered()):
        if kinds.referenced(resource):
            out.append((resource, "skip", kinds.referenced(resource)))
        elif not present[resource.logical]:
            out.append((resource, "absent", ""))
        else:
            out.append((resource, "delete", _data_detail(resource, ctx)))
    return out


def _data_detail(resource: Resource, ctx: live.Context) -> str:
    if not resource.HOLDS_DATA:
        return ""
    return kinds.contents(resource, ctx)


# Emptying a bucket reports (bucket, objects and versions deleted so far) after every page.
EmptyProgress = Callable[[str, int], None]


def holding_data(steps: list[tuple[Resource, str, str]], model: Any) -> list[tuple[Resource, str]]:
    """What the contract refuses to delete without --delete-data: buckets and tables that hold data.
    Queues hold messages in transit (a DLQ's are worth a look: `picops dlq`): warned about, not refused."""
    return [
        (r, d)
        for r, action, d in steps
        if action == "delete" and d and not isinstance(r, Queue) and not own_logs(r, model)
    ]


def check_data(steps: list[tuple[Resource, str, str]], model: Any, *, delete_data: bool) -> None:
    """Refuse, before anything is asked or deleted, when data would go without --delete-data."""
    holding = holding_data(steps, model)
    if holding and not delete_data:
        listed = "; ".join(f"{r.logical} ({r.name}) {d}" for r, d in holding)
        raise UsageError(
            f"refusing to delete resources that hold data: {listed}",
            hint="pass --delete-data to delete them and their contents",
        )


def destroy(
    ctx: live.Context,
    *,
    delete_data: bool,
    dry_run: bool,
    on_progress: Callable[[Removal], None] | None = None,
    on_empty: EmptyProgress | None = None,
    steps: list[tuple[Resource, str, str]] | None = None,
) -> list[Removal]:
    """Delete the stack (or, with `dry_run`, report what would go and what would need --delete-data)."""
    steps = plan_destroy(ctx) if steps is None else steps
    if not dry_run:
        check_data(steps, ctx.model, delete_data=delete_data)
    refused = {r.logical for r, _ in holding_data(steps, ctx.model)} if not delete_data else set()
    removals = []
    for resource, action, detail in steps:
        if dry_run and resource.logical in refused:
            detail = f"{detail} (needs --delete-data)"
        elif own_logs(resource, ctx.model) and detail:
            detail = f"{detail} (the stack's own access logs: deleted with it)"
        removal = Removal(resource.logical, resource.type, resource.name, action, detail)
        if action == "delete" and not dry_run:
            delete_resource(resource, ctx, delete_data=delete_data, on_empty=on_empty)
        removals.append(removal)
        if on_progress:
            on_progress(removal)
    return removals


def delete_resource(
    resource: Resource, ctx: live.Context, *, delete_data: bool, on_empty: EmptyProgress | None = None
) -> None:
    """Delete one resource; already-gone is success (an interrupted destroy re-runs cleanly)."""
    kinds.kind_of(resource).delete(resource, replace(ctx, delete_data=delete_data, on_empty=on_empty))


__all__ = ["Removal", "check_data", "delete_resource", "destroy", "holding_data", "own_logs", "plan_destroy"]
