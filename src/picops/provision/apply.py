"""The executor: the only code that changes the stack. Runs a plan's changes in dependency order.

Every step is driven by the plan's field diff against live state, so re-running after an interruption simply
plans what is still missing or different and converges; a plan of `noop`s makes no mutating call at all.
Resources that hold data (buckets, tables, queues) are never replaced automatically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from picops.config import Settings
from picops.errors import UsageError
from picops.provision import kinds, live
from picops.provision.bundle import Bundle
from picops.provision.plan import Change, Plan
from picops.stack.model import Resource

Progress = Callable[[Change, str], None]


class Executor:
    def __init__(self, plan: Plan, settings: Settings, bundle: Callable[[], Bundle]) -> None:
        self.plan = plan
        self.settings = settings
        self._bundle_source = bundle
        self._bundle: Bundle | None = None
        # The plan's facts, plus what a function's apply needs.
        self.ctx = replace(plan.ctx, settings=settings, bundle=self.bundle)

    def bundle(self) -> Bundle:
        # Built once, and only when a function is created or updated.
        if self._bundle is None:
            self._bundle = self._bundle_source()
        return self._bundle

    def run(self, on_progress: Progress | None = None) -> list[Change]:
        refused = [c for c in self.plan.pending if c.action == "replace" and c.resource.HOLDS_DATA]
        if refused:
            listed = "; ".join(f"{c.logical}: {', '.join(c.diff)}" for c in refused)
            raise UsageError(
                f"these resources hold data and would have to be replaced: {listed}",
                hint="picops never replaces data-bearing resources: migrate the data, `picops destroy` "
                "them (with --delete-data), then provision again",
            )
        done = []
        for change in self.plan.pending:
            if on_progress:
                on_progress(change, "start")
            self.apply(change)
            done.append(change)
            if on_progress:
                on_progress(change, "done")
        return done

    def apply(self, change: Change) -> None:
        resource = change.resource
        if change.action == "replace":
            destroy_one(resource, self.ctx)
            change = Change(resource, "create")
        kinds.kind_of(resource).apply(resource, change, self.ctx)


def destroy_one(resource: Resource, ctx: live.Context) -> None:
    """Delete one resource (used for `replace`); full teardown lives in `picops.provision.destroy`."""
    from picops.provision.destroy import delete_resource

    delete_resource(resource, ctx, delete_data=False)


def apply_plan(
    plan: Plan,
    settings: Settings,
    bundle: Callable[[], Bundle],
    on_progress: Progress | None = None,
) -> list[Change]:
    return Executor(plan, settings, bundle).run(on_progress)


__all__ = ["Executor", "apply_plan"]
