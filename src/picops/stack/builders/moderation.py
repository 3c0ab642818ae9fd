"""Moderation tagging: the stream Lambda on ModerationTable, the hourly sweeper, S3 Batch Operations."""

from __future__ import annotations

from picops.stack import iam
from picops.stack.builders.context import BuildContext, allow_send
from picops.stack.model import (
    DLQ_RETENTION_S,
    EventSourceMapping,
    FunctionInvokeConfig,
    LambdaPermission,
    Queue,
    QueuePolicy,
    ReferencedTable,
    Resource,
    Role,
    ScheduleRule,
    Table,
    frozen_json,
)
from picops.stack.names import s3_arn

# Stream mapping: bounded retries, then the failed batch's coordinates go to AlertsTopic (the hourly sweep
# repairs whatever the stream missed; the alert tells people it happened).
STREAM_MAX_RETRIES = 3
BATCH_OPERATIONS_SERVICE = "batchoperations.s3.amazonaws.com"
# EventBridge invokes the sweeper asynchronously: retry a failed invocation a few times within the hour (the
# next hourly run supersedes an older one), then keep the event in SweepDLQ (alarmed, listed by `dlq list`).
SWEEP_MAX_RETRIES = 4
SWEEP_MAX_EVENT_AGE_S = 3600
# Lambda's own retries of a sweep that raised (2 is the most it allows), then the record goes to SweepDLQ.
SWEEP_ASYNC_MAX_RETRIES = 2


def build(ctx: BuildContext) -> list[Resource]:
    settings, names = ctx.settings, ctx.names
    resources: list[Resource] = [
        (ReferencedTable if settings.moderation.external else Table)(
            "ModerationTable",
            names.moderation_table,
            hash_key=settings.moderation.key_attribute,
            stream_view="NEW_AND_OLD_IMAGES",
            # Every tag comes from this table: recoverable to any second of the last 35 days.
            point_in_time_recovery=not settings.moderation.external,
        )
    ]
    resources += ctx.function("ModerationStreamFunction")
    resources += ctx.function("ModerationSweepFunction")
    resources.append(_stream_mapping(ctx))
    resources += _sweep(ctx)
    resources.append(_batch_role(ctx))
    return resources


def _stream_mapping(ctx: BuildContext) -> EventSourceMapping:
    settings, names, arn = ctx.settings, ctx.names, ctx.arn
    return EventSourceMapping(
        "ModerationStreamFunctionMapping",
        f"{names.moderation_table} stream -> {names.physical('ModerationStreamFunction')}:live",
        function="ModerationStreamFunction",
        function_name=names.physical("ModerationStreamFunction"),
        source="ModerationTable",
        # The stream ARN is only known once the table exists; the planner resolves it from live state.
        source_arn="",
        batch_size=100,
        report_batch_item_failures=True,
        starting_position="LATEST",
        bisect_on_error=True,
        max_retries=STREAM_MAX_RETRIES,
        on_failure_arn=arn("AlertsTopic"),
        parallelization_factor=settings.moderation.parallelization_factor,
        local=ctx.local,
    )


def _sweep(ctx: BuildContext) -> list[Resource]:
    """The hourly schedule of the sweeper, its DLQ and what lets EventBridge invoke and fail into it."""
    names, arn = ctx.names, ctx.arn
    sweep = names.physical("ModerationSweepFunction")
    sweep_alias_arn = f"{arn('ModerationSweepFunction')}:live"
    resources: list[Resource] = []
    resources.append(Queue("SweepDLQ", names.physical("SweepDLQ"), retention_s=DLQ_RETENTION_S))
    resources.append(
        QueuePolicy(
            "SweepDLQPolicy",
            names.physical("SweepDLQ"),
            queue="SweepDLQ",
            queue_arn=arn("SweepDLQ"),
            document=frozen_json(
                allow_send(
                    arn("SweepDLQ"),
                    "events.amazonaws.com",
                    {"ArnEquals": {"aws:SourceArn": arn("SweepSchedule")}},
                )
            ),
        )
    )
    resources.append(
        ScheduleRule(
            "SweepSchedule",
            names.physical("SweepSchedule"),
            schedule="rate(1 hour)",
            function="ModerationSweepFunction",
            target_arn=sweep_alias_arn,
            max_retries=SWEEP_MAX_RETRIES,
            max_event_age_s=SWEEP_MAX_EVENT_AGE_S,
            dead_letter="SweepDLQ",
            dead_letter_arn=arn("SweepDLQ"),
            dead_letter_policy="SweepDLQPolicy",
        )
    )
    resources.append(
        LambdaPermission(
            "SweepSchedulePermission",
            "picops-sweep-schedule",
            function="ModerationSweepFunction",
            function_name=sweep,
            principal="events.amazonaws.com",
            source_arn=arn("SweepSchedule"),
            source="SweepSchedule",
        )
    )
    # SweepDLQ as the target's DLQ receives only events EventBridge could not deliver; a sweep that raises is
    # retried by Lambda and would then be dropped. The on-failure destination keeps its invocation record.
    resources.append(
        FunctionInvokeConfig(
            "ModerationSweepFunctionInvokeConfig",
            f"{sweep}:live",
            function="ModerationSweepFunction",
            function_name=sweep,
            max_retries=SWEEP_ASYNC_MAX_RETRIES,
            max_event_age_s=SWEEP_MAX_EVENT_AGE_S,
            on_failure="SweepDLQ",
            on_failure_arn=arn("SweepDLQ"),
        )
    )
    return resources


def _batch_role(ctx: BuildContext) -> Role:
    settings, names = ctx.settings, ctx.names
    sweep_alias_arn = f"{ctx.arn('ModerationSweepFunction')}:live"
    # S3 Batch Operations (`tag-backfill --engine batch-operations`): the job invokes the sweeper's `live`
    # alias (its handler hands Batch Operations events to batch_handler) with this role.
    inventory_bucket = settings.moderation.inventory_bucket
    batch_grants = iam.batch_operations_grants(
        ctx.arns,
        sweep_alias_arn=sweep_alias_arn,
        inventory_bucket_arn=s3_arn(ctx.region, inventory_bucket) if inventory_bucket else None,
    )
    return Role(
        "ModerationBatchRole",
        names.moderation_batch_role,
        document=frozen_json(iam.policy_document(batch_grants)),
        service=BATCH_OPERATIONS_SERVICE,
        source_account=ctx.account,
        purpose="S3 Batch Operations role of `picops tag-backfill --engine batch-operations`",
    )
