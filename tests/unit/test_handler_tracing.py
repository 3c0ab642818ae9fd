"""picops.handlers._tracing: Powertools' Tracer with tracing on; with it off, no X-Ray SDK at all."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools import Tracer

from picops.handlers import _tracing


class _Provider:
    """Stands in for the X-Ray recorder: keeps what the tracer hands it."""

    def __init__(self) -> None:
        self.annotations: list[tuple[str, Any]] = []

    def put_annotation(self, key: str, value: Any) -> None:
        self.annotations.append((key, value))


@pytest.mark.parametrize("value", ["true", "TRUE", "1"])
def test_disabled_tracing_hands_out_a_tracer_that_leaves_the_handler_as_it_is(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", value)
    tracer = _tracing.tracer("picops-test")
    assert not isinstance(tracer, Tracer)

    def handler(event: Any, context: Any) -> str:
        tracer.put_annotation("key", event)
        return f"done {event}"

    assert tracer.capture_lambda_handler(capture_response=False)(handler) is handler
    assert tracer.capture_lambda_handler(handler) is handler
    assert handler("photo.jpg", None) == "done photo.jpg"


@pytest.mark.parametrize("value", [None, "false"])
def test_enabled_tracing_is_powertools_tracer_and_annotations_reach_it(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    else:
        monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", value)
    tracer = _tracing.tracer("picops-test")
    assert isinstance(tracer, Tracer)
    provider = _Provider()
    monkeypatch.setattr(tracer, "provider", provider)
    monkeypatch.setattr(tracer, "disabled", False)
    tracer.put_annotation("booking_id", "b-1")
    assert provider.annotations == [("booking_id", "b-1")]
