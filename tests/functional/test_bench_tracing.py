"""bench/ingest.py's tracing comparison measures a live tracer against a disabled one: the "on" runs record
X-Ray entities for every object, the "off" runs none (docs/operating.md, "Tracing")."""

from __future__ import annotations

from bench import ingest


def test_the_on_runs_trace_every_object_and_the_off_runs_trace_nothing() -> None:
    figures = ingest.tracing_ab(objects=1, rounds=1)
    # The handler's own subsegment and one per AWS request it makes.
    assert figures["on_entities_per_object"] >= 5
    assert figures["on_bytes_per_object"] > 0
    assert figures["off_entities_per_object"] == 0
    assert figures["on_ms"] > 0
    assert figures["off_ms"] > 0
    assert len(figures["ratios"]) == 1
