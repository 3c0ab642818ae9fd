"""`core.dlq.native_redrive`: the native-to-manual fallback, called without the CLI (Stubber)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from picops.core.dlq import RedrivePlan, native_redrive
from picops.core.dlq.queues import QueueRef
from picops.errors import UsageError

DLQ = QueueRef(
    url="https://sqs/1/dlq",
    name="dlq",
    arn="arn:aws:sqs:us-east-1:1:dlq",
    fifo=False,
    attributes={"ApproximateNumberOfMessages": "7"},
)
SRC = QueueRef(url="https://sqs/1/src", name="src", arn="arn:aws:sqs:us-east-1:1:src", fifo=False)
PLAN = RedrivePlan(dlq=DLQ, to=None, sources=[SRC], mode="native", manual_reason=None)


def _sqs() -> tuple[object, Stubber]:
    sqs = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return sqs, Stubber(sqs)


@pytest.mark.parametrize("code", ["UnsupportedOperation", "InvalidAction"])
def test_an_endpoint_without_the_move_task_api_hands_over_to_the_manual_path(code: str) -> None:
    sqs, stub = _sqs()
    stub.add_client_error("start_message_move_task", service_error_code=code, http_status_code=400)
    reasons: list[str] = []
    with stub:
        assert native_redrive(sqs, PLAN, None, on_fallback=reasons.append) is None
    assert reasons == [f"this endpoint has no message move task API ({code})"]


def test_any_other_refusal_is_an_error_not_a_fallback() -> None:
    sqs, stub = _sqs()
    stub.add_client_error("start_message_move_task", service_error_code="AccessDenied", http_status_code=403)
    with stub, pytest.raises(Exception, match="AccessDenied"):
        native_redrive(sqs, PLAN, None, on_fallback=lambda reason: pytest.fail(reason))


def test_a_dry_run_counts_without_a_call() -> None:
    sqs, stub = _sqs()
    with stub:
        stats = native_redrive(sqs, PLAN, None, dry_run=True)
    assert stats is not None
    assert (stats.mode, stats.would_move, stats.stopped) == ("native", 7, "counted")


def test_a_bad_native_rate_names_the_field() -> None:
    sqs, _ = _sqs()
    with pytest.raises(UsageError) as caught:
        native_redrive(sqs, PLAN, 2.5)
    assert caught.value.fields == ["rate"]
    assert str(caught.value).startswith("rate must be a whole number")


def test_the_cli_words_a_field_error_as_its_flag(cli: Any, aws: Any) -> None:
    result = cli("dlq", "redrive", "IngestDLQ", "--rate", "0", "--json")
    assert result.exit_code == 2
    assert "--rate must be a positive number of messages per second" in result.stderr
    assert "error: rate must" not in result.stderr
