"""The moderation handlers publish their Powertools metrics (EMF on stdout) under the names the stack's
dashboard reads (picops.stack.metrics.HANDLER_METRICS)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from picops.handlers import _env
from picops.stack.metrics import NAMESPACE, metrics_of
from tests.conftest import load_event
from tests.functional.test_moderation_handlers import FakeContext, _stack


@pytest.fixture
def handlers(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from picops.handlers import moderation

    monkeypatch.setenv("AWS_REGION", "us-east-1")
    _env.reset()
    moderation.metrics.clear_metrics()
    yield moderation
    moderation.metrics.clear_metrics()
    _env.reset()


def _emf(out: str) -> list[dict[str, Any]]:
    documents = []
    for line in out.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "_aws" in doc:
            documents.append(doc)
    return documents


def test_stream_handler_counts_tagged_objects_with_kind_stream(
    handlers: Any, aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _stack(aws)
    capsys.readouterr()
    handlers.stream_handler(load_event("dynamodb_stream_moderation.json"), FakeContext())
    (doc,) = _emf(capsys.readouterr().out)
    (directive,) = doc["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE
    assert set(directive["Dimensions"][0]) == {"service", "kind"}
    assert doc["kind"] == "stream"
    names = {m["Name"] for m in directive["Metrics"]}
    assert names <= {m.name for m in metrics_of("moderation")}
    assert doc["service"] == "picops"
    # EMF carries one value per add_metric call (CloudWatch sums them): the two records with a verdict; the
    # REMOVE keeps its tag and counts nothing.
    assert doc["ModerationTagged"] == [1.0, 1.0]


def test_nothing_counted_prints_no_metrics_document(
    handlers: Any, aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _stack(aws)
    capsys.readouterr()
    event = load_event("dynamodb_stream_moderation.json")
    event["Records"] = [r for r in event["Records"] if r["eventName"] == "REMOVE"]  # keeps the tag
    handlers.stream_handler(event, FakeContext())
    assert _emf(capsys.readouterr().out) == []
