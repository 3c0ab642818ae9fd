"""Scheduled DLQ redrive: DlqRedriveFunction and one schedule per `[dlq.<Logical>] auto_redrive_every`
(docs/provision.md, "Scheduled repairs")."""

from __future__ import annotations

import json

from picops.stack.builders.context import BuildContext
from picops.stack.builders.schedules import periodic
from picops.stack.model import Resource
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
        resources += periodic(
            ctx,
            rule,
            REDRIVE_FUNCTION,
            every,
            statement_id=f"picops-{rule}",
            purpose=f"scheduled redrive of {dlq}",
            input=json.dumps(run, sort_keys=True),
        )
    return resources
