"""Moderation tagging: the stream Lambda on ModerationTable, the hourly sweeper, S3 Batch Operations."""

from __future__ import annotations

from picops.stack import iam
from picops.stack.builders.context import BuildContext
from picops.stack.model import (
    EventSourceMapping,
    LambdaPermission,
    Resource,
    Role,
    ScheduleRule,
    Table,
    frozen_json,
)

# Stream mapping: bounded retries, then the failed batch's coordinates go to AlertsTopic (the hourly sweep
# repairs whatever the stream missed; the alert tells people it happened).
STREAM_MAX_RETRIES = 3
BATCH_OPERATIONS_SERVICE = "batchoperations.s3.amazonaws.com"


def build(ctx: BuildContext) -> list[Resource]:
    settings, names, arn = ctx.settings, ctx.names, ctx.arn
    resources: list[Resource] = [
        Table(
            "ModerationTable",
            names.moderation_table,
            hash_key=settings.moderation.key_attribute,
            stream_view="NEW_AND_OLD_IMAGES",
            external=settings.moderation.external,
        )
    ]
    resources += ctx.function("ModerationStreamFunction")
    resources += ctx.function("ModerationSweepFunction")
    resources.append(
        EventSourceMapping(
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
    )

    sweep = names.physical("ModerationSweepFunction")
    sweep_alias_arn = f"{arn('ModerationSweepFunction')}:live"
    resources.append(
        ScheduleRule(
            "SweepSchedule",
            names.physical("SweepSchedule"),
            schedule="rate(1 hour)",
            function="ModerationSweepFunction",
            target_arn=sweep_alias_arn,
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

    # S3 Batch Operations (`tag-backfill --engine batch-operations`): the job invokes the sweeper's `live`
    # alias (its handler hands Batch Operations events to batch_handler) with this role.
    inventory_bucket = settings.moderation.inventory_bucket
    batch_grants = iam.batch_operations_grants(
        ctx.arns,
        sweep_alias_arn=sweep_alias_arn,
        inventory_bucket_arn=f"arn:{ctx.partition}:s3:::{inventory_bucket}" if inventory_bucket else None,
    )
    resources.append(
        Role(
            "ModerationBatchRole",
            names.moderation_batch_role,
            document=frozen_json(iam.policy_document(batch_grants)),
            service=BATCH_OPERATIONS_SERVICE,
            source_account=ctx.account,
            purpose="S3 Batch Operations role of `picops tag-backfill --engine batch-operations`",
        )
    )
    return resources
