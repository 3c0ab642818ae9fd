"""The traffic shift picops drives itself: alias `live` stays on the old version and sends a growing share
to the new one through its RoutingConfig (AdditionalVersionWeights), step by step as the strategy says,
watching each function's alarms while it holds a step. An alarm in ALARM puts that function's alias back on
the old version, 100%, at once; so does an interruption (Ctrl-C) for every function still shifting.

Several functions shift in lockstep, so a release of all of them takes one strategy's time, not one each.
`scale` multiplies every hold (tests and demos run a 5-minute canary in a fraction of a second).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from picops.provision.release.alarms import ALARM, states
from picops.provision.release.strategy import Strategy

IN_PROGRESS = "in-progress"
SUCCEEDED = "succeeded"
ROLLED_BACK = "rolled-back"
STOPPED = "stopped"
# How often the alarms are read while a step holds (real seconds, before scaling), at most.
POLL_S = 10.0


class AlarmWatch(Protocol):
    def firing(self, names: Sequence[str]) -> list[str]:
        """Which of `names` are in ALARM now."""


@dataclass
class Shift:
    """One function's release: from `old` to `new`, watching `alarms`."""

    logical: str
    name: str
    alias: str
    old: str
    new: str
    alarms: tuple[str, ...] = ()
    weight: int = 0
    outcome: str = IN_PROGRESS
    alarm: str | None = None
    steps: list[int] = field(default_factory=list)

    @property
    def version(self) -> str:
        """The version `live` points at for all its traffic once the release is over."""
        return self.new if self.outcome == SUCCEEDED else self.old


def route(lam: Any, shift: Shift, weight: int) -> None:
    """Send `weight`% of `shift`'s traffic to the new version (0: all on the old, 100: all on the new)."""
    weights: dict[str, float] = {}
    if weight >= 100:
        version = shift.new
    elif weight <= 0:
        version = shift.old
    else:
        version, weights = shift.old, {shift.new: weight / 100}
    lam.update_alias(
        FunctionName=shift.name,
        Name=shift.alias,
        FunctionVersion=version,
        RoutingConfig={"AdditionalVersionWeights": weights},
    )
    shift.weight = weight


@dataclass
class Driver:
    lam: Any
    watch: AlarmWatch
    scale: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    on_step: Callable[[Shift], None] | None = None

    def run(self, strategy: Strategy, shifts: Sequence[Shift]) -> None:
        """Every step of `strategy` over `shifts`; each ends succeeded or rolled-back (stopped when
        interrupted: the exception goes on once the aliases are back on the old versions)."""
        try:
            for weight, hold_s in strategy.steps():
                active = [s for s in shifts if s.outcome == IN_PROGRESS]
                if not active:
                    return
                for shift in active:
                    route(self.lam, shift, weight)
                    shift.steps.append(weight)
                    if weight >= 100:
                        shift.outcome = SUCCEEDED
                    self._report(shift)
                if weight < 100:
                    self._hold(active, hold_s * self.scale)
        except BaseException:
            for shift in shifts:
                if shift.outcome == IN_PROGRESS:
                    route(self.lam, shift, 0)
                    shift.outcome = STOPPED
                    self._report(shift)
            raise

    def _hold(self, active: Sequence[Shift], hold_s: float) -> None:
        deadline = self.clock() + hold_s
        poll_s = min(POLL_S, max(hold_s / 10, 0.05))
        while True:
            self._check(active)
            remaining = deadline - self.clock()
            if remaining <= 0 or all(s.outcome != IN_PROGRESS for s in active):
                return
            self.sleep(min(poll_s, remaining))

    def _check(self, active: Sequence[Shift]) -> None:
        for shift in active:
            if shift.outcome != IN_PROGRESS or not shift.alarms:
                continue
            firing = self.watch.firing(shift.alarms)
            if firing:
                route(self.lam, shift, 0)
                shift.outcome, shift.alarm = ROLLED_BACK, firing[0]
                self._report(shift)

    def _report(self, shift: Shift) -> None:
        if self.on_step is not None:
            self.on_step(shift)


@dataclass
class CloudWatchAlarms:
    """Alarm states as CloudWatch has them (on AWS, its own evaluation of the metrics)."""

    cloudwatch: Any
    ignored: frozenset[str] = frozenset()

    def firing(self, names: Sequence[str]) -> list[str]:
        found = states(self.cloudwatch, [n for n in names if n not in self.ignored])
        return sorted(name for name, state in found.items() if state == ALARM)


@dataclass
class AnyOf:
    """Firing when any of `watches` says so."""

    watches: tuple[AlarmWatch, ...]

    def firing(self, names: Sequence[str]) -> list[str]:
        return sorted({name for watch in self.watches for name in watch.firing(names)})
