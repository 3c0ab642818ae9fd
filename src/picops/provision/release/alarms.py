"""The alarms a release watches, and their states.

By default a function's own: its Errors and Throttles alarms and the alarm of each DLQ its failures land in
(the DLQ of the queue it consumes, or of its on-failure destination). `--alarm NAME` replaces them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from picops.errors import UsageError, input_field
from picops.stack.model import Alarm, EventSourceMapping, FunctionInvokeConfig, FunctionSpec, StackModel
from picops.stack.names import DLQ_SOURCES

ALARM = "ALARM"
# DescribeAlarms takes at most 100 names per request.
_BATCH = 100


def dlqs_of(model: StackModel, logical: str) -> set[str]:
    sources = {m.source for m in model.of_type(EventSourceMapping) if m.function == logical}
    dlqs = {dlq for dlq, source in DLQ_SOURCES.items() if source in sources}
    configs = [c for c in model.of_type(FunctionInvokeConfig) if c.function == logical]
    dlqs |= {c.on_failure for c in configs if c.on_failure}
    return dlqs


def default_alarms(model: StackModel, spec: FunctionSpec) -> tuple[str, ...]:
    """The function's Errors and Throttles alarms and its DLQs' alarms, by name, in model order."""
    watched = {spec.logical} | dlqs_of(model, spec.logical)
    return tuple(a.name for a in model.of_type(Alarm) if a.watches in watched)


def states(cloudwatch: Any, names: Iterable[str]) -> dict[str, str]:
    """StateValue of each alarm that exists (OK, ALARM or INSUFFICIENT_DATA); missing ones are left out."""
    wanted = sorted(set(names))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), _BATCH):
        pages = cloudwatch.get_paginator("describe_alarms").paginate(
            AlarmNames=wanted[start : start + _BATCH], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        )
        for page in pages:
            for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                found[alarm["AlarmName"]] = alarm["StateValue"]
    return found


def chosen_alarms(
    model: StackModel, specs: Sequence[FunctionSpec], explicit: Sequence[str], known: dict[str, str]
) -> dict[str, tuple[str, ...]]:
    """Per function, the alarms its release watches: `explicit` (each must exist: else a UsageError naming
    `--alarm`) for every function, or each function's defaults that exist."""
    if explicit:
        missing = [name for name in explicit if name not in known]
        if missing:
            raise UsageError(
                f"{input_field('alarm')}: no CloudWatch alarm named {', '.join(missing)}",
                hint="give the name of an existing alarm (`picops status` lists the stack's)",
            )
        return {spec.logical: tuple(dict.fromkeys(explicit)) for spec in specs}
    return {spec.logical: tuple(n for n in default_alarms(model, spec) if n in known) for spec in specs}


def refuse_firing(watched: dict[str, tuple[str, ...]], known: dict[str, str], *, force: bool) -> set[str]:
    """The alarms already in ALARM. Without `force` the first one stops the deploy (exit 2); with it they
    are returned, and the release ignores them (the fix for what set them off has to get through)."""
    firing = {name for names in watched.values() for name in names if known.get(name) == ALARM}
    if firing and not force:
        function = next(f for f, names in watched.items() if firing & set(names))
        first = sorted(firing)[0]
        raise UsageError(
            f"alarm {first} ({function}) is already in ALARM, so a gradual release could not tell a bad "
            "version from it",
            hint=f"deploying the fix for what set it off? add {input_field('force')}: the release then "
            "ignores the alarms already firing and watches the others",
        )
    return firing
