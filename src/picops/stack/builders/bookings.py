"""Bookings: BookingsApi -> BookingApiFunction -> BookingTopic (FIFO) -> two FIFO queues -> consumers."""

from __future__ import annotations

from picops.stack.builders.context import BuildContext, allow_send, queue_pair, sqs_mapping
from picops.stack.model import (
    ApiIntegration,
    ApiRoute,
    HttpApi,
    LambdaPermission,
    QueuePolicy,
    Resource,
    Subscription,
    Table,
    Topic,
    frozen_json,
)

API_ROUTES: dict[str, str] = {
    "BookingsApiCreateRoute": "POST /bookings",
    "BookingsApiGetRoute": "GET /bookings/{id}",
}
# FIFO queue -> the function consuming it.
CONSUMERS: dict[str, tuple[str, str]] = {
    "InventoryQueue": ("InventoryDLQ", "InventoryFunction"),
    "PaymentQueue": ("PaymentDLQ", "PaymentFunction"),
}


def build(ctx: BuildContext) -> list[Resource]:
    settings, names, arn = ctx.settings, ctx.names, ctx.arn
    resources: list[Resource] = [
        Table(
            "BookingsTable",
            names.physical("BookingsTable"),
            hash_key="pk",
            range_key="sk",
            point_in_time_recovery=True,
        ),
        Topic("BookingTopic", names.physical("BookingTopic"), fifo=True),
    ]
    resources += ctx.function("BookingApiFunction")
    for queue, (dlq, fn) in CONSUMERS.items():
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
    return resources
