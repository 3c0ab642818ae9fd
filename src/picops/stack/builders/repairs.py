"""Scheduled DLQ redrive: DlqRedriveFunction and one schedule per `[dlq.<Logical>] auto_redrive_every`
(docs/provision.md, "Scheduled repairs")."""

from __future__ import annotations

import json

from picops.stack.builders.bookings import rate_expression
from picops.stack.builders.context import BuildContext
from picops.stack.model import LambdaPermission, Resource, ScheduleRule
from picops.stack.names import DLQ_SOURCES, dlq_alarm_name

REDRIVE_FUNCTION = "DlqRedriveFunction"


def redrive_schedule(dlq: str) -> str:
    return f"{dlq}RedriveSchedule"


def build(ctx: BuildContext) -> list[Resource]:
    resources = ctx.function(REDRIVE_FUNCTION)
    for dlq, conf in ctx.settings.dlq.scheduled().items():
        rule = redrive_schedule(dlq)
        every = conf.auto_redrive_every
        run = {
            "dlq": dlq,
            "source": DLQ_SOURCES[dlq],
            "alarm": dlq_alarm_name(ctx.settings.stack.name, dlq),
            "rate": conf.redrive_rate,
            "max_messages": conf.redrive_max,
        }
        resources.append(
            ScheduleRule(
                rule,
                ctx.names.physical(rule),
                schedule=rate_expression(every),
                function=REDRIVE_FUNCTION,
                target_arn=f"{ctx.arn(REDRIVE_FUNCTION)}:live",
                # The next run supersedes a missed one: the messages wait in the DLQ, not in the event.
                max_retries=0,
                max_event_age_s=max(60, every),
                every_s=every,
                purpose=f"scheduled redrive of {dlq}",
                input=json.dumps(run, sort_keys=True),
            )
        )
        resources.append(
            LambdaPermission(
                f"{rule}Permission",
                f"picops-{rule}",
                function=REDRIVE_FUNCTION,
                function_name=ctx.names.physical(REDRIVE_FUNCTION),
                principal="events.amazonaws.com",
                source_arn=ctx.arn(rule),
                source=rule,
            )
        )
    return resources
