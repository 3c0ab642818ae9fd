"""Operations: the alarms over every pipeline, all notifying AlertsTopic."""

from __future__ import annotations

from picops.stack.builders.context import BuildContext
from picops.stack.model import HANDLERS, Alarm, Resource
from picops.stack.names import DLQ_SOURCES


def build(ctx: BuildContext) -> list[Resource]:
    stack, names = ctx.settings.stack.name, ctx.names
    alerts = ctx.arn("AlertsTopic")
    resources: list[Resource] = []
    for dlq in DLQ_SOURCES:
        resources.append(
            Alarm(
                f"{dlq}Alarm",
                f"{stack}-{dlq}-visible",
                namespace="AWS/SQS",
                metric="ApproximateNumberOfMessagesVisible",
                dimensions=(("QueueName", names.physical(dlq)),),
                statistic="Maximum",
                threshold=0,
                period_s=60,
                topic="AlertsTopic",
                topic_arn=alerts,
                watches=dlq,
            )
        )
    for fn in HANDLERS:
        resources.append(
            Alarm(
                f"{fn}ErrorsAlarm",
                f"{stack}-{fn}-errors",
                namespace="AWS/Lambda",
                metric="Errors",
                dimensions=(("FunctionName", names.physical(fn)),),
                statistic="Sum",
                threshold=0,
                period_s=300,
                topic="AlertsTopic",
                topic_arn=alerts,
                watches=fn,
            )
        )
    resources.append(
        Alarm(
            "IngestQueueAgeAlarm",
            f"{stack}-IngestQueue-oldest-message",
            namespace="AWS/SQS",
            metric="ApproximateAgeOfOldestMessage",
            dimensions=(("QueueName", names.physical("IngestQueue")),),
            statistic="Maximum",
            # Older than 15 minutes means the ingest function is not keeping up (or not consuming at all).
            threshold=900,
            period_s=300,
            topic="AlertsTopic",
            topic_arn=alerts,
            watches="IngestQueue",
        )
    )
    return resources
