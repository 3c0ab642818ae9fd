"""SQS calls moto cannot play: partial SendMessageBatch failures and the message move task APIs (Stubber)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from picops.aws import ClientFactory
from picops.config import AwsSettings
from picops.core.dlq.messages import QueueMessage
from picops.core.dlq.move_task import SqsMoveTasks, run_move_task
from picops.core.dlq.sender import send_confirmed
from picops.errors import Interrupted, OperationFailed

URL = "https://sqs.us-east-1.amazonaws.com/123456789012/q"
DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:q-dlq"
SRC_ARN = "arn:aws:sqs:us-east-1:123456789012:q"


@pytest.fixture
def sqs() -> Any:
    return ClientFactory(AwsSettings(region="us-east-1")).client("sqs")


def _messages(n: int) -> list[QueueMessage]:
    return [QueueMessage(message_id=f"id{i}", body=f"b{i}") for i in range(n)]


def test_failed_entries_are_retried_and_sender_faults_reported(sqs: Any) -> None:
    stub = Stubber(sqs)
    ok = {"MD5OfMessageBody": "x", "MessageId": "new"}
    stub.add_response(
        "send_message_batch",
        {
            "Successful": [{"Id": "m0", **ok}],
            "Failed": [
                {"Id": "m1", "SenderFault": False, "Code": "InternalError"},
                {"Id": "m2", "SenderFault": True, "Code": "InvalidParameterValue", "Message": "too big"},
            ],
        },
        {"QueueUrl": URL, "Entries": ANY},
    )
    # Only the retryable entry is sent again.
    stub.add_response(
        "send_message_batch",
        {"Successful": [{"Id": "m1", **ok}], "Failed": []},
        {"QueueUrl": URL, "Entries": [{"Id": "m1", "MessageBody": "b1"}]},
    )
    with stub:
        outcome = send_confirmed(sqs, URL, _messages(3), fifo=False, sleep=lambda s: None)
    stub.assert_no_pending_responses()
    assert [m.message_id for m in outcome.sent] == ["id0", "id1"]
    assert [(m.message_id, code) for m, code, _ in outcome.failed] == [("id2", "InvalidParameterValue")]
    assert outcome.requests == 2


def test_entries_never_confirmed_are_reported_not_dropped(sqs: Any) -> None:
    stub = Stubber(sqs)
    for _ in range(2):
        stub.add_response(
            "send_message_batch",
            {"Successful": [], "Failed": [{"Id": "m0", "SenderFault": False, "Code": "ServiceUnavailable"}]},
        )
    with stub:
        outcome = send_confirmed(sqs, URL, _messages(1), fifo=False, attempts=2, sleep=lambda s: None)
    assert outcome.sent == []
    assert outcome.failed[0][1] == "RetriesExhausted"


def _task(status: str, moved: int, to_move: int = 30, handle: str = "h1") -> dict[str, Any]:
    return {
        "Results": [
            {
                "TaskHandle": handle,
                "Status": status,
                "SourceArn": DLQ_ARN,
                "ApproximateNumberOfMessagesMoved": moved,
                "ApproximateNumberOfMessagesToMove": to_move,
                "StartedTimestamp": 1,
            }
        ]
    }


def test_native_task_runs_to_completion_with_progress(sqs: Any) -> None:
    stub = Stubber(sqs)
    stub.add_response(
        "start_message_move_task",
        {"TaskHandle": "h1"},
        {"SourceArn": DLQ_ARN, "DestinationArn": SRC_ARN, "MaxNumberOfMessagesPerSecond": 50},
    )
    stub.add_response(
        "list_message_move_tasks", _task("RUNNING", 10), {"SourceArn": DLQ_ARN, "MaxResults": 1}
    )
    stub.add_response(
        "list_message_move_tasks", _task("COMPLETED", 30), {"SourceArn": DLQ_ARN, "MaxResults": 1}
    )
    seen: list[int] = []
    with stub:
        final = run_move_task(
            SqsMoveTasks(sqs),
            DLQ_ARN,
            SRC_ARN,
            rate=50,
            on_progress=lambda s: seen.append(s.moved),
            sleep=lambda s: None,
        )
    stub.assert_no_pending_responses()
    assert (final.status, final.moved) == ("COMPLETED", 30)
    assert seen == [10, 30]


def test_native_task_is_cancelled_on_interrupt(sqs: Any) -> None:
    stub = Stubber(sqs)
    stub.add_response("start_message_move_task", {"TaskHandle": "h1"}, {"SourceArn": DLQ_ARN})
    stub.add_response("list_message_move_tasks", _task("RUNNING", 4), {"SourceArn": DLQ_ARN, "MaxResults": 1})
    stub.add_response(
        "cancel_message_move_task", {"ApproximateNumberOfMessagesMoved": 5}, {"TaskHandle": "h1"}
    )
    stop = threading.Event()

    def ctrl_c(_seconds: float) -> None:
        raise KeyboardInterrupt

    with stub, pytest.raises(Interrupted, match="after about 5 messages"):
        run_move_task(SqsMoveTasks(sqs), DLQ_ARN, None, stop=stop, sleep=ctrl_c)
    stub.assert_no_pending_responses()


def test_native_task_failure_is_reported(sqs: Any) -> None:
    stub = Stubber(sqs)
    stub.add_response("start_message_move_task", {"TaskHandle": "h1"})
    failed = _task("FAILED", 3)
    failed["Results"][0]["FailureReason"] = "AWS.SimpleQueueService.NonExistentQueue"
    stub.add_response("list_message_move_tasks", failed)
    with stub, pytest.raises(OperationFailed, match="NonExistentQueue"):
        run_move_task(SqsMoveTasks(sqs), DLQ_ARN, None, sleep=lambda s: None)


def test_fifo_resend_carries_a_dedup_id_derived_from_the_dlq_message_not_the_original() -> None:
    """The exact SendMessageBatch a FIFO redrive sends, twice for the same DLQ message (a crash between
    send and delete): the same derived id both times (the destination absorbs the second), never the
    original's (which the destination may have seen within 5 minutes and would silently drop)."""
    sqs = ClientFactory(AwsSettings(region="us-east-1")).client("sqs")
    fifo_url = URL + ".fifo"
    message = QueueMessage(
        message_id="dlq-msg-1",
        body="b",
        attributes={"MessageGroupId": "g1", "MessageDeduplicationId": "original-7"},
    )
    derived = message.stable_dedup_id()
    assert derived != "original-7"
    stub = Stubber(sqs)
    for _ in range(2):
        stub.add_response(
            "send_message_batch",
            {"Successful": [{"Id": "m0", "MD5OfMessageBody": "x", "MessageId": "new"}], "Failed": []},
            {
                "QueueUrl": fifo_url,
                "Entries": [
                    {
                        "Id": "m0",
                        "MessageBody": "b",
                        "MessageGroupId": "g1",
                        "MessageDeduplicationId": derived,
                    }
                ],
            },
        )
    with stub:
        for _ in range(2):
            assert send_confirmed(sqs, fifo_url, [message], fifo=True).sent == [message]
    stub.assert_no_pending_responses()
