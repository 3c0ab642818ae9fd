"""A function run on a period by an EventBridge rule: the rule and the permission that lets it invoke the
function's `live` alias (the scheduled repairs: the outbox sweep, a DLQ's redrive)."""

from __future__ import annotations

from picops.stack.builders.context import BuildContext
from picops.stack.model import LambdaPermission, Resource, ScheduleRule


def rate_expression(every_s: int) -> str:
    """An EventBridge rate for a period in seconds: whole minutes, rounded up (one minute is its floor)."""
    minutes = max(1, -(-every_s // 60))
    return f"rate({minutes} minute{'s' if minutes > 1 else ''})"


def periodic(
    ctx: BuildContext,
    rule: str,
    function: str,
    every_s: int,
    *,
    statement_id: str,
    purpose: str,
    input: str = "",
) -> list[Resource]:
    """`rule` invoking `function` every `every_s` seconds. A missed run is superseded by the next one a
    period later, so a stale event is never retried."""
    return [
        ScheduleRule(
            rule,
            ctx.names.physical(rule),
            schedule=rate_expression(every_s),
            function=function,
            target_arn=f"{ctx.arn(function)}:live",
            max_retries=0,
            max_event_age_s=max(60, every_s),
            every_s=every_s,
            purpose=purpose,
            input=input,
        ),
        LambdaPermission(
            f"{rule}Permission",
            statement_id,
            function=function,
            function_name=ctx.names.physical(function),
            principal="events.amazonaws.com",
            source_arn=ctx.arn(rule),
            source=rule,
        ),
    ]
