"""Per-kind counts as EMF, in the stack's namespace with the dimensions the dashboard reads."""

from __future__ import annotations

from collections import Counter

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from picops.stack.metrics import NAMESPACE


def publish_by_kind(counts: Counter[tuple[str, str]], service: str) -> None:
    """One EMF document per (metric, kind): Powertools' dimensions apply to a whole document, and the
    dashboard reads each metric by `service` and `kind`. Clears `counts`."""
    for (name, kind), count in sorted(counts.items()):
        with single_metric(name=name, unit=MetricUnit.Count, value=count, namespace=NAMESPACE) as metric:
            metric.add_dimension(name="service", value=service)
            metric.add_dimension(name="kind", value=kind)
    counts.clear()
