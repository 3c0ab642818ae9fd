"""The stack's schedule rules on the local runtime's clock (docs/provision.md, "Scheduled repairs").

moto stores EventBridge rules but never fires them, so `picops local run` does: every ScheduleRule of the
model except SweepSchedule (the runtime fires that one at `--sweep-every`) delivers its "Scheduled Event" (or
its target's constant input) to its function's handler, in-process, once a period. The period is the
rule's configured one (`every_s`, exact even below EventBridge's one-minute floor), else its `rate(...)`
expression. Like a new rate rule, the
first run comes one period after the start.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from picops.local.events import scheduled_event
from picops.local.invoke import FunctionTarget, HandlerBroken, HandlerUnavailable, Invoker
from picops.local.mappings import target_of
from picops.stack.model import FunctionSpec, ScheduleRule, StackModel
from picops.stack.names import StackNames

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}


def period_s(rule: ScheduleRule) -> float:
    """How often `rule` fires: its configured period, else its rate expression's (cron rules: never)."""
    if rule.every_s:
        return float(rule.every_s)
    match = _RATE.match(rule.schedule)
    if match is None:
        return 0.0
    return float(int(match.group(1)) * _UNIT_S[match.group(2).rstrip("s")])


@dataclass
class RuleRuns:
    """One rule's timer and what its runs did (`picops local run --json` -> `schedules[]`)."""

    rule: str
    function: str
    every_s: float
    next_at: float
    # The target's constant input, delivered instead of the Scheduled Event when the rule has one.
    input: str = ""
    runs: int = 0
    errors: int = 0
    last: dict[str, Any] = field(default_factory=dict)
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "function": self.function,
            "every_s": self.every_s,
            "runs": self.runs,
            "errors": self.errors,
            "last": self.last,
            "detail": self.detail,
        }


class Schedules:
    """Fires the model's schedule rules (but `skip`) when due; `fire_due` is called from the serve loop."""

    def __init__(
        self,
        model: StackModel,
        names: StackNames,
        invoker: Invoker,
        *,
        now: float,
        progress: Callable[[str], None] = lambda _line: None,
        skip: tuple[str, ...] = (),
    ) -> None:
        self.model = model
        self.names = names
        self.invoker = invoker
        self.progress = progress
        self.timers: list[RuleRuns] = []
        for rule in model.of_type(ScheduleRule):
            every = period_s(rule)
            if rule.logical in skip or not every:
                continue
            self.timers.append(RuleRuns(rule.logical, rule.function, every, now + every, rule.input))

    def next_at(self) -> float | None:
        return min((t.next_at for t in self.timers), default=None)

    def fire_due(self, now: float) -> int:
        """Run every rule whose time has come; returns how many ran."""
        fired = 0
        for timer in self.timers:
            if now >= timer.next_at:
                self.fire(timer)
                timer.next_at = now + timer.every_s
                fired += 1
        return fired

    def fire(self, timer: RuleRuns) -> None:
        timer.runs += 1
        spec = self.model.get(timer.function)
        assert isinstance(spec, FunctionSpec)
        target: FunctionTarget = target_of(self.model, spec)
        try:
            handler = self.invoker.load(target)
        except (HandlerUnavailable, HandlerBroken) as exc:
            timer.errors += 1
            timer.detail = str(exc)
            self.progress(f"{timer.rule}: {exc}")
            return
        event = json.loads(timer.input) if timer.input else scheduled_event(self.names.arn(timer.rule))
        result = self.invoker.invoke(target, handler, event)
        if result.error is not None:
            timer.errors += 1
            timer.detail = f"function error: {type(result.error).__name__}: {result.error}"
            self.progress(f"{timer.rule} -> {target.handler}: {timer.detail}")
            return
        timer.last = dict(result.response) if isinstance(result.response, dict) else {}
        timer.detail = ""
        self.progress(f"{timer.rule} -> {target.handler}: {timer.last}")

    @property
    def errors(self) -> int:
        return sum(t.errors for t in self.timers)

    def summary(self) -> list[dict[str, Any]]:
        return [t.as_dict() for t in self.timers]
