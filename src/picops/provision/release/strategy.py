"""Deploy strategies: how alias `live` moves from the version it points at to the one just published.

The names follow CodeDeploy's predefined Lambda deployment configurations (`canary10-5m` is
`CodeDeployDefault.LambdaCanary10Percent5Minutes`), so a strategy means the same shift whether CodeDeploy
drives it on AWS or picops drives it itself; `canary:P%:Mmin` and `linear:P%:Mmin` are custom ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from picops.errors import UsageError, input_field

ALL_AT_ONCE = "all-at-once"
# Longest step picops accepts: two days, CodeDeploy's own limit for a deployment's traffic shift.
MAX_INTERVAL_MIN = 2880


@dataclass(frozen=True)
class Strategy:
    """`kind` is all-at-once, canary (`percent` first, the rest after `interval_min`) or linear (`percent`
    more every `interval_min` until all of it)."""

    name: str
    kind: str
    percent: int = 100
    interval_min: int = 0

    @property
    def gradual(self) -> bool:
        return self.kind != ALL_AT_ONCE

    def steps(self) -> list[tuple[int, int]]:
        """(percent of traffic on the new version, seconds to hold it while watching the alarms), in order;
        the last step is always (100, 0)."""
        if self.kind == "canary":
            return [(self.percent, self.interval_min * 60), (100, 0)]
        if self.kind == "linear":
            shares = range(self.percent, 100, self.percent)
            return [(share, self.interval_min * 60) for share in shares] + [(100, 0)]
        return [(100, 0)]

    @property
    def codedeploy_config(self) -> str:
        """The deployment configuration CodeDeploy knows this strategy by (predefined or picops's own)."""
        if self.kind == ALL_AT_ONCE:
            return "CodeDeployDefault.LambdaAllAtOnce"
        if self.name in PREDEFINED:
            every = "" if self.kind == "canary" else "Every"
            unit = "Minute" if self.interval_min == 1 else "Minutes"
            kind = self.kind.capitalize()
            return f"CodeDeployDefault.Lambda{kind}{self.percent}Percent{every}{self.interval_min}{unit}"
        return f"picops-{self.kind}-{self.percent}pct-{self.interval_min}min"


def _predefined() -> dict[str, Strategy]:
    table = {ALL_AT_ONCE: Strategy(ALL_AT_ONCE, ALL_AT_ONCE)}
    for minutes in (5, 10, 15, 30):
        table[f"canary10-{minutes}m"] = Strategy(f"canary10-{minutes}m", "canary", 10, minutes)
    for minutes in (1, 2, 3, 10):
        table[f"linear10-{minutes}m"] = Strategy(f"linear10-{minutes}m", "linear", 10, minutes)
    return table


PREDEFINED: dict[str, Strategy] = _predefined()
_CUSTOM = re.compile(r"^(canary|linear):(\d{1,2})%:(\d{1,4})min$")


def parse_strategy(text: str | None) -> Strategy:
    """The strategy named by `text` (None: all-at-once, the default); bad: UsageError naming the flag."""
    if text is None:
        return PREDEFINED[ALL_AT_ONCE]
    found = PREDEFINED.get(text.strip().lower())
    if found is not None:
        return found
    match = _CUSTOM.match(text.strip().lower())
    known = ", ".join(PREDEFINED)
    hint = f"one of {known}, or canary:P%:Mmin / linear:P%:Mmin (for example canary:20%:5min)"
    if match is None:
        raise UsageError(f"{input_field('strategy')} {text!r} is not a deploy strategy", hint=hint)
    kind, percent, minutes = match.group(1), int(match.group(2)), int(match.group(3))
    if not 1 <= percent <= 99:
        raise UsageError(
            f"{input_field('strategy')} {text!r}: the share must be 1-99% (100% at once is all-at-once)",
            hint=hint,
        )
    if not 1 <= minutes <= MAX_INTERVAL_MIN:
        raise UsageError(
            f"{input_field('strategy')} {text!r}: the interval must be 1-{MAX_INTERVAL_MIN} minutes",
            hint=hint,
        )
    return Strategy(f"{kind}:{percent}%:{minutes}min", kind, percent, minutes)
