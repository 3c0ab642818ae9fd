"""The custom metrics picops's handlers emit (Powertools Metrics, EMF), in one table the dashboard reads.

Every handler's environment carries `POWERTOOLS_METRICS_NAMESPACE` (`PicOps`) and
`POWERTOOLS_SERVICE_NAME` (`picops-<stack>`), so a bare `Metrics()` in a handler publishes under namespace
`PicOps` with the dimension `service = picops-<stack>`. Metric names start with their pipeline (namespace and
service are shared by all functions of a stack). A handler that adds a metric adds a row here; the stack's
dashboard (`<stack>-pipelines`) then shows it with its pipeline's other metrics, whatever values its extra
dimensions (`kind`) take: the widget is a CloudWatch `SEARCH` over the metric's dimension schema.
"""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE = "PicOps"
SERVICE_DIMENSION = "service"


def service_name(stack: str) -> str:
    """The `service` dimension (and POWERTOOLS_SERVICE_NAME) of every function of `stack`: the stack's name,
    prefixed with `picops-` unless it already names picops (the default stack reads `picops`, not
    `picops-picops`)."""
    return stack if stack == "picops" or stack.startswith("picops-") else f"picops-{stack}"


@dataclass(frozen=True)
class HandlerMetric:
    pipeline: str  # ingest | moderation | bookings
    name: str
    unit: str  # a Powertools MetricUnit value
    meaning: str
    # Dimensions besides `service` the handler adds (with `metrics.add_dimension` or a single-metric context).
    dimensions: tuple[str, ...] = ()
    # How the dashboard aggregates it per period.
    statistic: str = "Sum"


_KIND = ("kind",)
HANDLER_METRICS: tuple[HandlerMetric, ...] = (
    HandlerMetric("ingest", "IngestProcessed", "Count", "objects ingested, by kind (image, json)", _KIND),
    HandlerMetric("ingest", "IngestFailed", "Count", "objects that failed, by kind", _KIND),
    HandlerMetric("ingest", "IngestUnrecognised", "Count", "SQS bodies that are not S3 notifications"),
    HandlerMetric("ingest", "IngestThumbnailMs", "Milliseconds", "time to make one thumbnail", (), "p95"),
    HandlerMetric("moderation", "ModerationTagged", "Count", "objects tagged, by kind (stream/sweep)", _KIND),
    HandlerMetric("moderation", "ModerationFailed", "Count", "objects not tagged (retried), by kind", _KIND),
    HandlerMetric(
        "moderation",
        "ModerationSweepStoppedByMargin",
        "Count",
        "sweeps that stopped before any object: less than sweep_margin_s was left",
        _KIND,
    ),
    HandlerMetric("bookings", "BookingsProcessed", "Count", "steps done, by kind (seat, payment)", _KIND),
    HandlerMetric("bookings", "BookingsFailed", "Count", "booking steps that failed, by kind", _KIND),
    HandlerMetric(
        "bookings",
        "BookingsRepublished",
        "Count",
        "bookings the scheduled outbox sweep published again (kind outbox)",
        _KIND,
    ),
    HandlerMetric(
        "bookings",
        "BookingsRepublishFailed",
        "Count",
        "bookings the outbox sweep could not publish (pending for its next run)",
        _KIND,
    ),
)


def metrics_of(pipeline: str) -> tuple[HandlerMetric, ...]:
    return tuple(m for m in HANDLER_METRICS if m.pipeline == pipeline)


__all__ = ["HANDLER_METRICS", "NAMESPACE", "SERVICE_DIMENSION", "HandlerMetric", "metrics_of", "service_name"]
