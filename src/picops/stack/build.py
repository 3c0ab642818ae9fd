"""Build the `StackModel` for one stack from Settings, the account and the region (no AWS calls).

This is the single description every other part reads: plan/apply, status, destroy, the CloudFormation export,
IAM generation, and deploy (which takes its `FunctionSpec`s from here).
"""

from __future__ import annotations

import json

from picops.config import Settings
from picops.stack import iam
from picops.stack.model import (
    DLQ_RETENTION_S,
    HANDLERS,
    VISIBILITY_FACTOR,
    Alarm,
    ApiIntegration,
    ApiRoute,
    Bucket,
    BucketNotification,
    BucketPolicy,
    EventSourceMapping,
    FunctionSpec,
    HttpApi,
    LambdaPermission,
    LogGroup,
    Queue,
    QueueNotification,
    QueuePolicy,
    Resource,
    Role,
    ScheduleRule,
    StackModel,
    Subscription,
    Table,
    Topic,
    frozen_json,
)
from picops.stack.names import DLQ_SOURCES, StackNames

# queue -> the function consuming it.
QUEUE_CONSUMERS: dict[str, str] = {
    "IngestQueue": "IngestFunction",
    "InventoryQueue": "InventoryFunction",
    "PaymentQueue": "PaymentFunction",
}
API_ROUTES: dict[str, str] = {
    "BookingsApiCreateRoute": "POST /bookings",
    "BookingsApiGetRoute": "GET /bookings/{id}",
}
# Stream mapping: bounded retries, then the failed batch's coordinates go to AlertsTopic (the hourly sweep
# repairs whatever the stream missed; the alert tells people it happened).
STREAM_MAX_RETRIES = 3
BATCH_OPERATIONS_SERVICE = "batchoperations.s3.amazonaws.com"


def partition_of(region: str) -> str:
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws"


def function_environment(settings: Settings, names: StackNames) -> tuple[tuple[str, str], ...]:
    """What `settings_from_env()` inside a function needs to find this stack's resources and behave the "
    "same."""
    ingest, moderation = settings.ingest, settings.moderation
    env = {
        "PICOPS_STACK": settings.stack.name,
        "PICOPS_INGEST__UPLOADS_BUCKET": names.uploads_bucket,
        "PICOPS_INGEST__PROCESSED_BUCKET": names.processed_bucket,
        "PICOPS_INGEST__PREFIX": ingest.prefix,
        "PICOPS_INGEST__SUFFIXES": json.dumps(list(ingest.suffixes)),
        "PICOPS_MODERATION__TABLE_NAME": names.moderation_table,
        "PICOPS_MODERATION__EXTERNAL": "true" if moderation.external else "false",
        "PICOPS_MODERATION__KEY_ATTRIBUTE": moderation.key_attribute,
        "PICOPS_MODERATION__STATUS_ATTRIBUTE": moderation.status_attribute,
        "PICOPS_MODERATION__STATUSES": json.dumps(list(moderation.statuses)),
        "PICOPS_MODERATION__TAG_KEY": moderation.tag_key,
        "PICOPS_MODERATION__ON_REMOVE": moderation.on_remove,
        "POWERTOOLS_SERVICE_NAME": f"picops-{settings.stack.name}",
    }
    return tuple(sorted(env.items()))


def role_name(function_name: str, region: str) -> str:
    # IAM is global: the region keeps two regional copies of a stack from sharing (and fighting over) roles.
    return f"{function_name}-{region}"[:64]


def build_model(settings: Settings, account: str, region: str, *, local: bool = False) -> StackModel:
    names = StackNames(settings, account, region)
    partition = partition_of(region)
    arn = names.arn
    resources: list[Resource] = []
    timeout = settings.deploy.timeout_s
    log_group_arn = {
        fn: f"arn:{partition}:logs:{region}:{account}:log-group:/aws/lambda/{names.physical(fn)}"
        for fn in HANDLERS
    }
    arns = iam.StackArns(
        uploads_bucket=arn("UploadsBucket"),
        processed_bucket=arn("ProcessedBucket"),
        ingest_queue=arn("IngestQueue"),
        inventory_queue=arn("InventoryQueue"),
        payment_queue=arn("PaymentQueue"),
        jobs_table=arn("JobsTable"),
        moderation_table=arn("ModerationTable"),
        bookings_table=arn("BookingsTable"),
        notify_topic=arn("NotifyTopic"),
        booking_topic=arn("BookingTopic"),
        alerts_topic=arn("AlertsTopic"),
        log_group=log_group_arn,
    )

    # Storage.
    for logical, versioned in (("UploadsBucket", True), ("ProcessedBucket", False)):
        resources.append(Bucket(logical, names.physical(logical), versioned=versioned))
        if local:
            # The embedded endpoint serves plain HTTP and evaluates bucket policies: a TLS-only policy would
            # refuse every request. Real AWS targets and the CloudFormation export always carry it.
            continue
        resources.append(
            BucketPolicy(
                f"{logical}Policy",
                names.physical(logical),
                bucket=logical,
                document=frozen_json(_deny_insecure_transport(arn(logical))),
            )
        )
    resources += [
        Table(
            "JobsTable",
            names.physical("JobsTable"),
            hash_key="pk",
            range_key="sk",
            point_in_time_recovery=True,
        ),
        Table(
            "ModerationTable",
            names.moderation_table,
            hash_key=settings.moderation.key_attribute,
            stream_view="NEW_AND_OLD_IMAGES",
            external=settings.moderation.external,
        ),
        Table(
            "BookingsTable",
            names.physical("BookingsTable"),
            hash_key="pk",
            range_key="sk",
            point_in_time_recovery=True,
        ),
    ]

    # Topics.
    resources += [
        Topic("NotifyTopic", names.physical("NotifyTopic")),
        Topic("BookingTopic", names.physical("BookingTopic"), fifo=True),
        Topic("AlertsTopic", names.physical("AlertsTopic")),
    ]

    # Queues: DLQs first, then the queues they serve (redrive needs the DLQ's ARN).
    for dlq, source in DLQ_SOURCES.items():
        fifo = names.physical(source).endswith(".fifo")
        max_receive = (
            settings.ingest.max_receive_count
            if source == "IngestQueue"
            else settings.bookings.max_receive_count
        )
        resources.append(Queue(dlq, names.physical(dlq), fifo=fifo, retention_s=DLQ_RETENTION_S))
        resources.append(
            Queue(
                source,
                names.physical(source),
                fifo=fifo,
                visibility_timeout_s=VISIBILITY_FACTOR * timeout,
                dlq=dlq,
                dlq_arn=arn(dlq),
                max_receive_count=max_receive,
                consumer=QUEUE_CONSUMERS[source],
            )
        )

    # Queue policies: S3 -> IngestQueue, BookingTopic -> the two FIFO queues.
    resources.append(
        QueuePolicy(
            "IngestQueuePolicy",
            names.physical("IngestQueue"),
            queue="IngestQueue",
            queue_arn=arn("IngestQueue"),
            document=frozen_json(
                _allow_send(
                    arn("IngestQueue"),
                    "s3.amazonaws.com",
                    {
                        "ArnLike": {"aws:SourceArn": arn("UploadsBucket")},
                        "StringEquals": {"aws:SourceAccount": account},
                    },
                )
            ),
        )
    )
    for queue in ("InventoryQueue", "PaymentQueue"):
        resources.append(
            QueuePolicy(
                f"{queue}Policy",
                names.physical(queue),
                queue=queue,
                queue_arn=arn(queue),
                document=frozen_json(
                    _allow_send(
                        arn(queue), "sns.amazonaws.com", {"ArnEquals": {"aws:SourceArn": arn("BookingTopic")}}
                    )
                ),
            )
        )
        resources.append(
            Subscription(
                f"{queue}Subscription",
                f"{names.physical('BookingTopic')} -> {names.physical(queue)}",
                topic="BookingTopic",
                topic_arn=arn("BookingTopic"),
                queue=queue,
                queue_arn=arn(queue),
                queue_policy=f"{queue}Policy",
            )
        )

    # S3 -> IngestQueue: one configuration per suffix under the prefix.
    resources.append(
        BucketNotification(
            "UploadsBucketNotification",
            names.uploads_bucket,
            bucket="UploadsBucket",
            queue="IngestQueue",
            queue_policy="IngestQueuePolicy",
            configurations=tuple(
                QueueNotification(
                    id=f"picops-ingest-{suffix.lstrip('.').replace('.', '-') or 'any'}",
                    queue_arn=arn("IngestQueue"),
                    events=("s3:ObjectCreated:*",),
                    prefix=settings.ingest.prefix,
                    suffix=suffix,
                )
                for suffix in settings.ingest.suffixes
            ),
        )
    )

    # Functions: log group, role, function.
    environment = function_environment(settings, names)
    for fn, handler in HANDLERS.items():
        name = names.physical(fn)
        grants = iam.function_grants(fn, arns, uploads_prefix=settings.ingest.prefix)
        rname = role_name(name, region)
        resources.append(
            LogGroup(
                f"{fn}LogGroup", f"/aws/lambda/{name}", retention_days=settings.deploy.log_retention_days
            )
        )
        resources.append(
            Role(f"{fn}Role", rname, function=fn, document=frozen_json(iam.policy_document(grants)))
        )
        resources.append(
            FunctionSpec(
                fn,
                name,
                handler=handler,
                environment=environment,
                timeout_s=timeout,
                memory_mb=settings.deploy.memory_mb,
                runtime=settings.deploy.runtime,
                architecture=settings.deploy.architecture,
                role=f"{fn}Role",
                role_arn=f"arn:{partition}:iam::{account}:role/{rname}",
                log_group=f"{fn}LogGroup",
            )
        )

    # Event sources.
    for queue, fn in QUEUE_CONSUMERS.items():
        resources.append(
            EventSourceMapping(
                f"{fn}Mapping",
                f"{names.physical(queue)} -> {names.physical(fn)}:live",
                function=fn,
                function_name=names.physical(fn),
                source=queue,
                source_arn=arn(queue),
                batch_size=settings.ingest.batch_size if queue == "IngestQueue" else 10,
                report_batch_item_failures=True,
                local=local,
            )
        )
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
            local=local,
        )
    )

    # Schedule.
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
        arns,
        sweep_alias_arn=sweep_alias_arn,
        inventory_bucket_arn=f"arn:{partition}:s3:::{inventory_bucket}" if inventory_bucket else None,
    )
    resources.append(
        Role(
            "ModerationBatchRole",
            names.moderation_batch_role,
            document=frozen_json(iam.policy_document(batch_grants)),
            service=BATCH_OPERATIONS_SERVICE,
            source_account=account,
            purpose="S3 Batch Operations role of `picops tag-backfill --engine batch-operations`",
        )
    )

    # HTTP API.
    api_alias_arn = f"{arn('BookingApiFunction')}:live"
    resources.append(HttpApi("BookingsApi", names.physical("BookingsApi")))
    resources.append(
        ApiIntegration(
            "BookingsApiIntegration",
            f"{names.physical('BookingsApi')} -> {names.physical('BookingApiFunction')}:live",
            api="BookingsApi",
            function="BookingApiFunction",
            function_arn=api_alias_arn,
        )
    )
    for logical, route_key in API_ROUTES.items():
        resources.append(
            ApiRoute(logical, route_key, api="BookingsApi", integration="BookingsApiIntegration")
        )
    resources.append(
        LambdaPermission(
            "BookingsApiPermission",
            "picops-bookings-api",
            function="BookingApiFunction",
            function_name=names.physical("BookingApiFunction"),
            principal="apigateway.amazonaws.com",
            # Any stage and route of this API; the API id is resolved from live state.
            source_arn="",
            source="BookingsApi",
        )
    )

    # Alarms -> AlertsTopic.
    alerts = arn("AlertsTopic")
    for dlq in DLQ_SOURCES:
        resources.append(
            Alarm(
                f"{dlq}Alarm",
                f"{settings.stack.name}-{dlq}-visible",
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
                f"{settings.stack.name}-{fn}-errors",
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
            f"{settings.stack.name}-IngestQueue-oldest-message",
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
    return StackModel(settings.stack.name, account, region, local, tuple(resources))


def _deny_insecure_transport(bucket_arn: str) -> dict[str, object]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def _allow_send(queue_arn: str, service: str, condition: dict[str, object]) -> dict[str, object]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": f"Allow{service.split('.')[0].upper()}Send",
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": condition,
            }
        ],
    }
