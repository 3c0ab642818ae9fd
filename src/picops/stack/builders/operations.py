"""Operations: the alarms over every pipeline (all notifying AlertsTopic, each saying what it means and the
first command to run) and one CloudWatch dashboard of all three pipelines (`<stack>-pipelines`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from picops.functions import function_def
from picops.stack.builders.context import BuildContext
from picops.stack.metrics import NAMESPACE, SERVICE_DIMENSION, metrics_of, service_name
from picops.stack.model import HANDLERS, Alarm, Dashboard, Resource
from picops.stack.names import DLQ_SOURCES, dlq_alarm_name, partition_of

DASHBOARD_SUFFIX = "pipelines"
# The stream mapping is this far behind the stream (IteratorAge is in milliseconds): verdicts arrive late.
ITERATOR_AGE_THRESHOLD_MS = 10 * 60 * 1000
# Older than this, IngestQueue's oldest message means IngestFunction is not keeping up (or not consuming).
INGEST_QUEUE_AGE_THRESHOLD_S = 15 * 60


def _dlq_alarm_description(dlq: str, source: str) -> str:
    if dlq == "SweepDLQ":
        # Not a queue's DLQ: two senders. Lambda's on-failure destination (a sweep that raised, after Lambda's
        # retries) and SweepSchedule's target (an event EventBridge could not deliver to the function).
        return (
            "SweepDLQ holds failed hourly sweeps: records of ModerationSweepFunction invocations that raised "
            "after Lambda's retries, and SweepSchedule events EventBridge could not deliver. "
            "First: picops dlq peek SweepDLQ and the function's logs; once fixed, "
            "picops dlq purge SweepDLQ (the next hourly sweep repairs what was missed)."
        )
    return (
        f"{dlq} holds messages: {source}'s consumer gave up on them after its retries. "
        f"First: picops dlq peek {dlq}, then, once the cause is fixed, picops dlq redrive {dlq}."
    )


def dashboard_name(stack: str) -> str:
    return f"{stack}-{DASHBOARD_SUFFIX}"


# The console of each partition other than the commercial one (which is per region).
_CONSOLE_HOSTS = {"aws-us-gov": "console.amazonaws-us-gov.com", "aws-cn": "console.amazonaws.cn"}


def dashboard_url(region: str, name: str) -> str:
    """The console URL of a CloudWatch dashboard (per partition)."""
    host = _CONSOLE_HOSTS.get(partition_of(region), f"{region}.console.aws.amazon.com")
    return f"https://{host}/cloudwatch/home?region={region}#dashboards/dashboard/{name}"


def build(ctx: BuildContext) -> list[Resource]:
    return [*alarms(ctx), pipelines_dashboard(ctx)]


# -- alarms ------------------------------------------------------------------------------------------------


def alarms(ctx: BuildContext) -> list[Resource]:
    """Every alarm, each telling AlertsTopic: DLQs holding messages, functions failing or throttled, and
    the two backlogs (IngestQueue's oldest message, the moderation stream's iterator age)."""
    return [*_dlq_alarms(ctx), *_function_alarms(ctx), *_backlog_alarms(ctx)]


def _alarm_maker(ctx: BuildContext) -> Callable[..., Alarm]:
    alerts = ctx.arn("AlertsTopic")

    def alarm(logical: str, name: str, **fields: Any) -> Alarm:
        return Alarm(logical, name, topic="AlertsTopic", topic_arn=alerts, **fields)

    return alarm


def _dlq_alarms(ctx: BuildContext) -> list[Resource]:
    stack, names, alarm = ctx.settings.stack.name, ctx.names, _alarm_maker(ctx)
    resources: list[Resource] = []
    for dlq, source in DLQ_SOURCES.items():
        resources.append(
            alarm(
                f"{dlq}Alarm",
                dlq_alarm_name(stack, dlq),
                namespace="AWS/SQS",
                metric="ApproximateNumberOfMessagesVisible",
                dimensions=(("QueueName", names.physical(dlq)),),
                statistic="Maximum",
                threshold=0,
                period_s=60,
                watches=dlq,
                description=_dlq_alarm_description(dlq, source),
            )
        )
    return resources


def _function_alarms(ctx: BuildContext) -> list[Resource]:
    stack, names, alarm = ctx.settings.stack.name, ctx.names, _alarm_maker(ctx)
    resources: list[Resource] = []
    for fn in HANDLERS:
        resources.append(
            alarm(
                f"{fn}ErrorsAlarm",
                f"{stack}-{fn}-errors",
                namespace="AWS/Lambda",
                metric="Errors",
                dimensions=(("FunctionName", names.physical(fn)),),
                statistic="Sum",
                threshold=0,
                period_s=300,
                watches=fn,
                description=f"{fn} failed whole invocations (raised, timed out or ran out of memory). "
                f"First: picops logs {fn} --since 15m; {function_def(fn).errors_next}.",
            )
        )
    for fn in HANDLERS:
        resources.append(
            alarm(
                f"{fn}ThrottlesAlarm",
                f"{stack}-{fn}-throttles",
                namespace="AWS/Lambda",
                metric="Throttles",
                dimensions=(("FunctionName", names.physical(fn)),),
                statistic="Sum",
                threshold=0,
                period_s=300,
                watches=fn,
                description=f"{fn} was throttled: Lambda refused invocations for lack of concurrency "
                "(its reserved concurrency, or the account's unreserved pool is used up). First: picops "
                f"status (its ReservedConcurrentExecutions), then raise [deploy.functions.{fn}] "
                "reserved_concurrency or the account's concurrency quota (docs/operating.md).",
            )
        )
    return resources


def _backlog_alarms(ctx: BuildContext) -> list[Resource]:
    stack, names, alarm = ctx.settings.stack.name, ctx.names, _alarm_maker(ctx)
    resources: list[Resource] = []
    resources.append(
        alarm(
            "IngestQueueAgeAlarm",
            f"{stack}-IngestQueue-oldest-message",
            namespace="AWS/SQS",
            metric="ApproximateAgeOfOldestMessage",
            dimensions=(("QueueName", names.physical("IngestQueue")),),
            statistic="Maximum",
            threshold=INGEST_QUEUE_AGE_THRESHOLD_S,
            period_s=300,
            watches="IngestQueue",
            description="IngestQueue's oldest upload has waited over 15 minutes: IngestFunction is not "
            "keeping up ([ingest] max_concurrency caps it) or not consuming at all. First: picops status (is "
            "IngestFunctionMapping there and as planned?), then picops logs IngestFunction --since 15m.",
        )
    )
    resources.append(
        alarm(
            "ModerationStreamFunctionMappingIteratorAgeAlarm",
            f"{stack}-ModerationStreamFunction-iterator-age",
            namespace="AWS/Lambda",
            metric="IteratorAge",
            dimensions=(("FunctionName", names.physical("ModerationStreamFunction")),),
            statistic="Maximum",
            threshold=ITERATOR_AGE_THRESHOLD_MS,
            period_s=300,
            watches="ModerationStreamFunctionMapping",
            description="ModerationStreamFunction is over 10 minutes behind ModerationTable's stream: "
            "verdicts are tagged late (records older than 24 hours leave the stream; the hourly sweep "
            "repairs those). "
            "First: picops logs ModerationStreamFunction --since 15m, then picops status "
            "(ModerationStreamFunctionMapping; [moderation] parallelization_factor).",
        )
    )
    return resources


# -- dashboard ---------------------------------------------------------------------------------------------

_WIDTH, _HEIGHT = 8, 6


class _Grid:
    """Lays widgets out left to right, 3 per row, each pipeline under its own title row."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.widgets: list[dict[str, Any]] = []
        self.y = 0
        self.x = 0

    def title(self, text: str) -> None:
        self._newline()
        self.widgets.append(
            {"type": "text", "x": 0, "y": self.y, "width": 24, "height": 1, "properties": {"markdown": text}}
        )
        self.y += 1

    def _newline(self) -> None:
        if self.x:
            self.x = 0
            self.y += _HEIGHT

    def metric(self, title: str, metrics: list[list[Any]], *, stat: str = "Sum", **extra: Any) -> None:
        if self.x + _WIDTH > 24:
            self._newline()
        properties: dict[str, Any] = {
            "title": title,
            "view": "timeSeries",
            "region": self.region,
            "stat": stat,
            "period": 300,
            "metrics": metrics,
            **extra,
        }
        self.widgets.append(
            {
                "type": "metric",
                "x": self.x,
                "y": self.y,
                "width": _WIDTH,
                "height": _HEIGHT,
                "properties": properties,
            }
        )
        self.x += _WIDTH


def _queue_widgets(grid: _Grid, ctx: BuildContext, queue: str, dlq: str) -> None:
    q, d = ctx.names.physical(queue), ctx.names.physical(dlq)
    grid.metric(
        f"{queue}: depth and oldest message",
        [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q, {"label": "visible"}],
            [".", "ApproximateNumberOfMessagesNotVisible", ".", ".", {"label": "in flight"}],
            [".", "ApproximateAgeOfOldestMessage", ".", ".", {"label": "oldest (s)", "yAxis": "right"}],
        ],
        stat="Maximum",
    )
    grid.metric(
        f"{dlq}: depth",
        [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", d, {"label": dlq}]],
        stat="Maximum",
    )


def _function_widgets(grid: _Grid, ctx: BuildContext, functions: tuple[str, ...]) -> None:
    counts: list[list[Any]] = []
    durations: list[list[Any]] = []
    for fn in functions:
        name = ctx.names.physical(fn)
        for metric in ("Invocations", "Errors", "Throttles"):
            counts.append(["AWS/Lambda", metric, "FunctionName", name, {"label": f"{fn} {metric.lower()}"}])
        durations.append(["AWS/Lambda", "Duration", "FunctionName", name, {"label": f"{fn} p95"}])
    grid.metric("invocations, errors, throttles", counts)
    grid.metric("duration p95 (ms)", durations, stat="p95")


def _handler_metrics_widget(grid: _Grid, ctx: BuildContext, pipeline: str) -> None:
    service = service_name(ctx.settings.stack.name)
    expressions: list[list[Any]] = []
    for i, m in enumerate(metrics_of(pipeline)):
        schema = ",".join((NAMESPACE, SERVICE_DIMENSION, *m.dimensions))
        query = f'{{{schema}}} MetricName="{m.name}" {SERVICE_DIMENSION}="{service}"'
        expressions.append(
            [{"expression": f"SEARCH('{query}', '{m.statistic}', 300)", "id": f"m{i}", "label": m.name}]
        )
    if expressions:
        grid.metric(f"{pipeline} handler metrics ({NAMESPACE})", expressions)


def dashboard_body(ctx: BuildContext) -> dict[str, Any]:
    grid = _Grid(ctx.region)
    names = ctx.names

    grid.title("## Ingest: UploadsBucket -> IngestQueue -> IngestFunction")
    _queue_widgets(grid, ctx, "IngestQueue", "IngestDLQ")
    _function_widgets(grid, ctx, ("IngestFunction",))
    _handler_metrics_widget(grid, ctx, "ingest")

    grid.title("## Moderation: ModerationTable stream -> ModerationStreamFunction; ModerationSweepFunction")
    grid.metric(
        "stream iterator age (ms)",
        [
            [
                "AWS/Lambda",
                "IteratorAge",
                "FunctionName",
                names.physical("ModerationStreamFunction"),
                {"label": "ModerationStreamFunctionMapping"},
            ]
        ],
        stat="Maximum",
    )
    _function_widgets(grid, ctx, ("ModerationStreamFunction", "ModerationSweepFunction"))
    grid.metric(
        "SweepDLQ: depth (failed sweep invocations)",
        [
            [
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                "QueueName",
                names.physical("SweepDLQ"),
                {"label": "SweepDLQ"},
            ]
        ],
        stat="Maximum",
    )
    _handler_metrics_widget(grid, ctx, "moderation")

    grid.title("## Bookings: BookingsApi -> BookingApiFunction -> BookingTopic -> Inventory/PaymentQueue")
    grid.metric(
        "BookingsApi: requests, 4xx, 5xx",
        [
            ["AWS/ApiGateway", "Count", "ApiId", "${BookingsApi}", {"label": "requests"}],
            [".", "4xx", ".", ".", {"label": "4xx"}],
            [".", "5xx", ".", ".", {"label": "5xx"}],
        ],
    )
    grid.metric(
        "BookingsApi: latency (ms)",
        [
            ["AWS/ApiGateway", "Latency", "ApiId", "${BookingsApi}", {"label": "p95", "stat": "p95"}],
            [".", "IntegrationLatency", ".", ".", {"label": "integration p95", "stat": "p95"}],
        ],
        stat="p95",
    )
    for queue, dlq in (("InventoryQueue", "InventoryDLQ"), ("PaymentQueue", "PaymentDLQ")):
        _queue_widgets(grid, ctx, queue, dlq)
    _function_widgets(grid, ctx, ("BookingApiFunction", "InventoryFunction", "PaymentFunction"))
    _handler_metrics_widget(grid, ctx, "bookings")

    grid.title(
        "## Scheduled repairs: OutboxSweepFunction (OutboxSchedule), DlqRedriveFunction (DLQ schedules)"
    )
    _function_widgets(grid, ctx, ("OutboxSweepFunction", "DlqRedriveFunction"))
    return {"widgets": grid.widgets}


def pipelines_dashboard(ctx: BuildContext) -> Dashboard:
    return Dashboard(
        "PipelinesDashboard",
        dashboard_name(ctx.settings.stack.name),
        body=json.dumps(dashboard_body(ctx), sort_keys=True, separators=(",", ":")),
        references=("BookingsApi",),
    )
