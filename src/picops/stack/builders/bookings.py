"""Bookings: BookingsApi -> BookingApiFunction -> BookingTopic (FIFO) -> two FIFO queues -> consumers."""

from __future__ import annotations

from picops.stack.builders.context import BuildContext, allow_send, queue_pair, sqs_mapping
from picops.stack.builders.schedules import periodic
from picops.stack.builders.shared import encrypted_topic
from picops.stack.model import (
    ApiAuthorizer,
    ApiIntegration,
    ApiRoute,
    HttpApi,
    LambdaPermission,
    LogGroup,
    QueuePolicy,
    Resource,
    Subscription,
    Table,
    frozen_json,
)

API_ROUTES: dict[str, str] = {
    "BookingsApiCreateRoute": "POST /bookings",
    "BookingsApiGetRoute": "GET /bookings/{id}",
}
# `[bookings] authorizer` -> the routes' AuthorizationType.
AUTHORIZATION_TYPES: dict[str, str] = {"none": "NONE", "iam": "AWS_IAM", "jwt": "JWT"}
ACCESS_LOGS = "BookingsApiAccessLogs"
AUTHORIZER = "BookingsApiAuthorizer"
# FIFO queue -> the function consuming it.
CONSUMERS: dict[str, tuple[str, str]] = {
    "InventoryQueue": ("InventoryDLQ", "InventoryFunction"),
    "PaymentQueue": ("PaymentDLQ", "PaymentFunction"),
}


OUTBOX_FUNCTION = "OutboxSweepFunction"
OUTBOX_SCHEDULE = "OutboxSchedule"


def outbox_sweep(ctx: BuildContext) -> list[Resource]:
    """OutboxSweepFunction and, unless `[bookings] republish_every` is 0, the schedule that runs it: the
    booking accepted whose publish was lost is republished without anyone remembering to."""
    resources = ctx.function(OUTBOX_FUNCTION)
    every = ctx.settings.bookings.republish_every
    if not every:
        return resources
    return resources + periodic(
        ctx,
        OUTBOX_SCHEDULE,
        OUTBOX_FUNCTION,
        every,
        statement_id="picops-outbox-schedule",
        purpose="outbox sweep (republish bookings whose publish was lost)",
    )


def build(ctx: BuildContext) -> list[Resource]:
    names = ctx.names
    resources: list[Resource] = [
        Table(
            "BookingsTable",
            names.physical("BookingsTable"),
            hash_key="pk",
            range_key="sk",
            point_in_time_recovery=True,
        ),
        encrypted_topic(ctx, "BookingTopic", fifo=True),
    ]
    resources += ctx.function("BookingApiFunction")
    for queue, (dlq, fn) in CONSUMERS.items():
        resources += _consumer(ctx, queue, dlq, fn)
    resources += outbox_sweep(ctx)
    resources += _api(ctx)
    return resources


def _consumer(ctx: BuildContext, queue: str, dlq: str, fn: str) -> list[Resource]:
    """A FIFO queue subscribed to BookingTopic, its DLQ, and the function that consumes it."""
    settings, names, arn = ctx.settings, ctx.names, ctx.arn
    resources: list[Resource] = []
    resources += queue_pair(ctx, queue, dlq, consumer=fn, max_receive=settings.bookings.max_receive_count)
    resources.append(
        QueuePolicy(
            f"{queue}Policy",
            names.physical(queue),
            queue=queue,
            queue_arn=arn(queue),
            document=frozen_json(
                allow_send(
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
    resources += ctx.function(fn)
    resources.append(
        sqs_mapping(ctx, queue, fn, batch_size=10, max_concurrency=settings.bookings.max_concurrency)
    )
    return resources


def _api(ctx: BuildContext) -> list[Resource]:
    """BookingsApi: its access logs, the optional JWT authorizer, the integration, routes and permission."""
    settings, names, arn = ctx.settings, ctx.names, ctx.arn
    resources: list[Resource] = []
    api_alias_arn = f"{arn('BookingApiFunction')}:live"
    api_name = names.physical("BookingsApi")
    log_group = f"/aws/vendedlogs/apigateway/{api_name}"
    resources.append(LogGroup(ACCESS_LOGS, log_group, retention_days=settings.deploy.log_retention_days))
    resources.append(
        HttpApi(
            "BookingsApi",
            api_name,
            access_log_group=ACCESS_LOGS,
            access_log_arn=f"arn:{ctx.partition}:logs:{ctx.region}:{ctx.account}:log-group:{log_group}",
            throttle_rate=settings.bookings.api_rate,
            throttle_burst=settings.bookings.api_burst,
        )
    )
    authorization = AUTHORIZATION_TYPES[settings.bookings.authorizer]
    if authorization == "JWT":
        assert settings.bookings.jwt_issuer is not None  # the settings validator requires it
        resources.append(
            ApiAuthorizer(
                AUTHORIZER,
                f"{api_name}-jwt",
                api="BookingsApi",
                issuer=settings.bookings.jwt_issuer,
                audience=settings.bookings.jwt_audience,
            )
        )
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
            ApiRoute(
                logical,
                route_key,
                api="BookingsApi",
                integration="BookingsApiIntegration",
                authorization_type=authorization,
                authorizer=AUTHORIZER if authorization == "JWT" else "",
            )
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
    return resources
