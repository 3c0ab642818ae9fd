"""`picops deploy --strategy/--alarm`: the release use case around provision.deploy's deploy_functions.

Before any change: the watched alarms are read and a firing one stops the release unless forced (alarms.py).
Then each function's new version is published as today, but alias `live` stays where it is; the shift
(shift.py) moves the traffic over in lockstep for all of them, and each function's record in the release
history (history.py) says how it went.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from picops.aws import ClientFactory
from picops.config import Settings
from picops.provision.bundle import Bundle
from picops.provision.deploy import FunctionResult, deploy_functions, point_at_once
from picops.provision.release import history
from picops.provision.release.alarms import chosen_alarms, default_alarms, refuse_firing, states
from picops.provision.release.codedeploy import CodeDeployDriver
from picops.provision.release.shift import (
    IN_PROGRESS,
    SUCCEEDED,
    AlarmWatch,
    AnyOf,
    CloudWatchAlarms,
    Driver,
    Shift,
)
from picops.provision.release.strategy import ALL_AT_ONCE, Strategy
from picops.stack.model import CodeDeployGroup, FunctionSpec, StackModel
from picops.stack.names import build_arn

MOVED = ("created", "updated")


@dataclass(frozen=True)
class Request:
    """What the operator asked for. `explicit` is false for a plain `picops deploy`: no alarm is read then,
    and the JSON document stays as it always was."""

    strategy: Strategy
    alarms: tuple[str, ...] = ()
    force: bool = False
    scale: float = 1.0
    explicit: bool = True
    # With CodeDeploy (AWS): start the deployments and return without following them.
    no_wait: bool = False


@dataclass
class Watched:
    """Per function, the alarms its release watches; `ignored`: those already firing (with --force)."""

    alarms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    ignored: frozenset[str] = frozenset()


@dataclass
class Hooks:
    on_result: Callable[[FunctionResult], None] | None = None
    on_step: Callable[[Shift], None] | None = None
    on_warning: Callable[[str], None] | None = None
    # Alarms read while a step holds besides CloudWatch's states: the local stack passes its own
    # evaluation of the runtime's records (an alarm set by hand still counts).
    watch: AlarmWatch | None = None
    # A CodeDeploy deployment's status changed (Created, InProgress, Succeeded, ...), with its id.
    on_deployment: Callable[[Shift, str, str], None] | None = None


def function_arn(model: StackModel, spec: FunctionSpec) -> str:
    return build_arn(model.region, "lambda", model.account, f"function:{spec.name}")


def check_alarms(
    factory: ClientFactory,
    model: StackModel,
    specs: Sequence[FunctionSpec],
    request: Request,
    watch: AlarmWatch | None = None,
) -> Watched:
    """The alarms each function's release watches; a UsageError (exit 2) when one is already firing and
    the release is not forced, or when an `--alarm` does not exist. A plain deploy reads none. `watch`
    (the local stack's evaluation) says which fire where CloudWatch's own states would not."""
    if not request.explicit:
        return Watched()
    names = set(request.alarms) | {n for spec in specs for n in default_alarms(model, spec)}
    known = states(factory.client("cloudwatch"), names)
    if watch is not None:
        known.update(dict.fromkeys(watch.firing(sorted(known)), "ALARM"))
    watched = chosen_alarms(model, specs, request.alarms, known)
    return Watched(watched, frozenset(refuse_firing(watched, known, force=request.force)))


def release(
    factory: ClientFactory,
    settings: Settings,
    model: StackModel,
    specs: Sequence[FunctionSpec],
    bundle: Bundle,
    request: Request,
    watched: Watched,
    hooks: Hooks | None = None,
) -> list[FunctionResult]:
    """Deploy `bundle` to `specs` and move alias `live` as `request.strategy` says."""
    hooks = hooks or Hooks()
    pending: list[Shift] = []
    name = request.strategy.name

    def point(client: Any, spec: FunctionSpec, version: str, current: str | None) -> None:
        if not request.strategy.gradual or current is None or current == version:
            point_at_once(client, spec, version, current)
            return
        alarms = tuple(a for a in watched.alarms.get(spec.logical, ()) if a not in watched.ignored)
        pending.append(Shift(spec.logical, spec.name, spec.alias, current, version, alarms))

    results = deploy_functions(factory, settings, specs, bundle, on_result=hooks.on_result, point=point)
    recorder = _Recorder(factory, model, hooks.on_warning)
    by_logical = {spec.logical: spec for spec in specs}
    for shift in pending:
        recorder.write(by_logical[shift.logical], shift.new, shift.old, name, IN_PROGRESS, started=True)
    deployments: dict[str, str] = {}
    try:
        _shift(factory, model, request, watched, hooks, pending, deployments)
    finally:
        for shift in pending:
            recorder.write(
                by_logical[shift.logical],
                shift.new,
                shift.old,
                name,
                shift.outcome,
                shift.alarm,
                deployment=deployments.get(shift.logical),
            )
    shifted = {shift.logical: shift for shift in pending}
    final = [_finished(r, shifted.get(r.logical), request) for r in results]
    for r in final:
        if r.action in MOVED and r.logical not in shifted and r.version is not None:
            recorder.write(by_logical[r.logical], r.version, r.previous_version, ALL_AT_ONCE, SUCCEEDED)
    return final


def codedeploy_groups(model: StackModel) -> dict[str, CodeDeployGroup]:
    """The deployment group of each function, by logical name: empty on a local endpoint (no CodeDeploy)."""
    return {g.function: g for g in model.of_type(CodeDeployGroup)}


def _shift(
    factory: ClientFactory,
    model: StackModel,
    request: Request,
    watched: Watched,
    hooks: Hooks,
    pending: list[Shift],
    deployments: dict[str, str],
) -> None:
    """CodeDeploy runs the shift where the model has deployment groups (AWS); picops drives it elsewhere.
    `deployments` receives each started CodeDeploy deployment's id, by function."""
    groups = codedeploy_groups(model)
    if groups and pending:
        override = bool(request.alarms) or bool(watched.ignored)
        driver = CodeDeployDriver(
            factory.client("codedeploy"),
            next(iter(groups.values())).application_name,
            {logical: group.name for logical, group in groups.items()},
            alarms={s.logical: s.alarms for s in pending} if override else None,
            deployments=deployments,
        )
        if hooks.on_deployment is not None:
            report = hooks.on_deployment
            driver.on_step = lambda shift, status: report(shift, status, driver.deployments[shift.logical])
        driver.start(request.strategy, pending)
        for shift in pending:
            if hooks.on_deployment is not None:
                hooks.on_deployment(shift, "Created", driver.deployments[shift.logical])
        if not request.no_wait:
            driver.follow(pending)
        return
    watch: AlarmWatch = CloudWatchAlarms(factory.client("cloudwatch"), watched.ignored)
    if hooks.watch is not None:
        watch = AnyOf((watch, hooks.watch))
    Driver(factory.client("lambda"), watch, scale=request.scale, on_step=hooks.on_step).run(
        request.strategy, pending
    )


def _finished(result: FunctionResult, shift: Shift | None, request: Request) -> FunctionResult:
    if not request.explicit:
        return result
    if shift is None:
        # Not shifted: unchanged, failed, or the function's first version (nothing to shift from).
        moved = result.action in MOVED
        strategy = ALL_AT_ONCE if moved else request.strategy.name
        return dataclasses.replace(result, strategy=strategy, outcome=SUCCEEDED if moved else None)
    return dataclasses.replace(
        result,
        version=shift.version,
        strategy=request.strategy.name,
        outcome=shift.outcome,
        alarm=shift.alarm,
    )


class _Recorder:
    """Writes history records; a record that cannot be written is a warning, never a failed deploy (the
    alias has moved either way)."""

    def __init__(
        self, factory: ClientFactory, model: StackModel, on_warning: Callable[[str], None] | None
    ) -> None:
        self.factory, self.model, self.on_warning = factory, model, on_warning
        self._by: str | None = None
        self._started: dict[str, str] = {}

    def write(
        self,
        spec: FunctionSpec,
        version: str,
        previous: str | None,
        strategy: str,
        outcome: str,
        alarm: str | None = None,
        *,
        started: bool = False,
        deployment: str | None = None,
    ) -> None:
        at = self._started.get(spec.logical) if not started else None
        at = at or history.now()
        if started:
            self._started[spec.logical] = at
        try:
            if self._by is None:
                self._by = history.caller(self.factory)
            record = history.Record(
                spec.logical, version, previous, at, self._by, strategy, outcome, alarm, deployment
            )
            history.write(self.factory.client("lambda"), function_arn(self.model, spec), record)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            if self.on_warning is not None:
                self.on_warning(f"{spec.logical}: the release history was not recorded ({exc})")
