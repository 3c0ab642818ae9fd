"""Moderation handlers on what only real AWS makes visible: the Lambda context reaching the stream record
handler (no STS call on a cold start), and a sweep whose margin leaves it no time saying so."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from picops.aws import ClientFactory
from picops.handlers import _env
from picops.stack.state_objects import SWEEP_STATE_KEY
from tests import tagging_support as ts
from tests.conftest import load_event
from tests.functional.test_moderation_handlers import FakeContext, _stack


@pytest.fixture
def handlers(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from picops.handlers import moderation

    monkeypatch.setenv("AWS_REGION", "us-east-1")
    _env.reset()
    yield moderation
    _env.reset()


def test_stream_handler_takes_the_account_from_the_context_not_sts(
    handlers: Any, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Powertools passes the Lambda context only to a record handler parameter named `lambda_context`;
    without it every cold start asks STS for the account, which hangs in a VPC with no STS endpoint."""
    stack = _stack(aws)

    def no_sts(self: ClientFactory) -> str:
        raise AssertionError("the stream handler called STS GetCallerIdentity")

    monkeypatch.setattr(ClientFactory, "account_id", no_sts)
    response = handlers.stream_handler(load_event("dynamodb_stream_moderation.json"), FakeContext())
    assert response == {"batchItemFailures": []}
    assert ts.tags_of(aws, stack.uploads_bucket, "incoming/with space.jpg")[ts.TAG_KEY] == "approved"


def test_a_sweep_its_margin_stops_before_any_work_warns_and_emits_a_metric(
    handlers: Any, aws: Any, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = _stack(aws)
    warned: list[str] = []
    monkeypatch.setattr(handlers.logger, "warning", lambda msg, *a, **k: warned.append(str(msg)))
    capfd.readouterr()
    # 10 s left, margin 15 s (the default): nothing can be done.
    summary = handlers.sweep_handler(
        load_event("eventbridge_scheduled.json"), FakeContext(remaining_ms=10_000)
    )
    printed = capfd.readouterr().out
    assert summary["stopped_by_margin"] is True
    assert summary["scanned"] == 0
    assert summary["cycle_complete"] is False
    lines = [json.loads(line) for line in printed.splitlines() if line.startswith("{")]
    assert any("sweep_margin_s" in w for w in warned), warned
    metrics = [line for line in lines if "_aws" in line]
    assert metrics, lines
    directive = metrics[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "PicOps"
    assert handlers.SWEEP_STARVED_METRIC in [m["Name"] for m in directive["Metrics"]]
    assert metrics[0][handlers.SWEEP_STARVED_METRIC] in (1, 1.0, [1.0])
    assert metrics[0]["service"] == "picops"
    assert metrics[0]["kind"] == "sweep"
    # The continuation is untouched: the next run starts where the last real one ended.
    listed = aws.client("s3").list_objects_v2(Bucket=stack.uploads_bucket, Prefix=SWEEP_STATE_KEY)
    assert listed.get("KeyCount", 0) == 0


def test_a_sweep_with_time_to_work_is_a_clean_run(handlers: Any, aws: Any) -> None:
    _stack(aws)
    summary = handlers.sweep_handler(load_event("eventbridge_scheduled.json"), FakeContext())
    assert summary["stopped_by_margin"] is False
    assert summary["scanned"] > 0
