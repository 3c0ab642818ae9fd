"""`picops dlq redrive` choosing the native path against a (stubbed) real-AWS target."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from picops.aws import ClientFactory
from picops.config import AwsSettings

ACCOUNT = "123456789012"
DLQ_URL = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/picops-ingest-dlq"
SRC_URL = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/picops-ingest"
DLQ_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:picops-ingest-dlq"
SRC_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:picops-ingest"


def _attrs(arn: str, visible: int, policy: str | None = None) -> dict[str, Any]:
    attrs = {
        "QueueArn": arn,
        "ApproximateNumberOfMessages": str(visible),
        "ApproximateNumberOfMessagesNotVisible": "0",
    }
    if policy:
        attrs["RedrivePolicy"] = policy
    return {"Attributes": attrs}


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> tuple[Stubber, Stubber]:
    real = ClientFactory(AwsSettings(region="us-east-1"))
    sqs, sts = real.client("sqs"), real.client("sts")
    clients = {"sqs": sqs, "sts": sts}
    monkeypatch.setattr(ClientFactory, "client", lambda self, service, concurrency=10: clients[service])
    sqs_stub, sts_stub = Stubber(sqs), Stubber(sts)
    sts_stub.add_response(
        "get_caller_identity", {"Account": ACCOUNT, "Arn": "arn:aws:iam::1:user/x", "UserId": "x"}
    )
    sts_stub.add_response(
        "get_caller_identity", {"Account": ACCOUNT, "Arn": "arn:aws:iam::1:user/x", "UserId": "x"}
    )
    policy = json.dumps({"deadLetterTargetArn": DLQ_ARN, "maxReceiveCount": 5})
    sqs_stub.add_response("get_queue_url", {"QueueUrl": DLQ_URL}, {"QueueName": "picops-ingest-dlq"})
    sqs_stub.add_response(
        "get_queue_attributes", _attrs(DLQ_ARN, 42), {"QueueUrl": DLQ_URL, "AttributeNames": ANY}
    )
    sqs_stub.add_response(
        "list_dead_letter_source_queues", {"queueUrls": [SRC_URL]}, {"QueueUrl": DLQ_URL, "MaxResults": 1000}
    )
    sqs_stub.add_response(
        "get_queue_attributes", _attrs(SRC_ARN, 0, policy), {"QueueUrl": SRC_URL, "AttributeNames": ANY}
    )
    return sqs_stub, sts_stub


def test_redrive_uses_the_native_move_task_on_real_aws(cli: Any, stubbed: tuple[Stubber, Stubber]) -> None:
    sqs_stub, sts_stub = stubbed
    # No --to: SQS sends each message back to its own source.
    sqs_stub.add_response("start_message_move_task", {"TaskHandle": "h1"}, {"SourceArn": DLQ_ARN})
    sqs_stub.add_response(
        "list_message_move_tasks",
        {
            "Results": [
                {
                    "TaskHandle": "h1",
                    "Status": "COMPLETED",
                    "SourceArn": DLQ_ARN,
                    "ApproximateNumberOfMessagesMoved": 42,
                    "ApproximateNumberOfMessagesToMove": 42,
                }
            ]
        },
        {"SourceArn": DLQ_ARN, "MaxResults": 1},
    )
    with sqs_stub, sts_stub:
        result = cli("dlq", "redrive", "IngestDLQ", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert (doc["mode"], doc["moved"], doc["source"], doc["destination"]) == ("native", 42, DLQ_ARN, SRC_ARN)
    assert "native path" in result.stderr
    sqs_stub.assert_no_pending_responses()


def test_filter_forces_the_manual_path_even_on_real_aws(cli: Any, stubbed: tuple[Stubber, Stubber]) -> None:
    sqs_stub, sts_stub = stubbed
    for _ in range(3):  # three empty long polls, then the count: the DLQ is empty after all
        sqs_stub.add_response("receive_message", {"Messages": []}, {"QueueUrl": DLQ_URL, **_ANY_RECEIVE})
    sqs_stub.add_response(
        "get_queue_attributes", _attrs(DLQ_ARN, 0), {"QueueUrl": DLQ_URL, "AttributeNames": ANY}
    )
    with sqs_stub, sts_stub:
        result = cli("dlq", "redrive", "IngestDLQ", "--filter", "body.x", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    assert "manual path (--filter needs to read each message)" in result.stderr
    assert (result.json()["mode"], result.json()["would_move"]) == ("manual", 0)
    sqs_stub.assert_no_pending_responses()


_ANY_RECEIVE = {
    "MaxNumberOfMessages": 10,
    "WaitTimeSeconds": 2,
    "VisibilityTimeout": 60,
    "MessageAttributeNames": ["All"],
    "MessageSystemAttributeNames": ANY,
}


def test_endpoint_without_move_tasks_falls_back_to_manual(cli: Any, stubbed: tuple[Stubber, Stubber]) -> None:
    sqs_stub, sts_stub = stubbed
    sqs_stub.add_client_error(
        "start_message_move_task", service_error_code="UnsupportedOperation", http_status_code=400
    )
    for _ in range(3):
        sqs_stub.add_response("receive_message", {"Messages": []}, {"QueueUrl": DLQ_URL, **_ANY_RECEIVE})
    sqs_stub.add_response(
        "get_queue_attributes", _attrs(DLQ_ARN, 0), {"QueueUrl": DLQ_URL, "AttributeNames": ANY}
    )
    with sqs_stub, sts_stub:
        result = cli("dlq", "redrive", "IngestDLQ", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert "no message move task API" in result.stderr
    assert result.json()["mode"] == "manual"
    sqs_stub.assert_no_pending_responses()


def _url(name: str) -> str:
    return f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/{name}"


def test_dlq_list_pages_past_1000_queues_and_1000_sources(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # SQS returns at most 1,000 URLs and a NextToken only when MaxResults is sent: 1,001 source queues, the
    # DLQ last, so both ListQueues and ListDeadLetterSourceQueues need their second page.
    real = ClientFactory(AwsSettings(region="us-east-1"))
    clients = {s: real.client(s) for s in ("sqs", "sts", "cloudwatch")}
    monkeypatch.setattr(ClientFactory, "client", lambda self, service, concurrency=10: clients[service])
    sqs, sts = Stubber(clients["sqs"]), Stubber(clients["sts"])
    identity = {"Account": ACCOUNT, "Arn": "arn:aws:iam::1:user/x", "UserId": "x"}
    for _ in range(2):
        sts.add_response("get_caller_identity", identity)
    sources = [f"src-{i:04d}" for i in range(1001)]
    policy = json.dumps({"deadLetterTargetArn": DLQ_ARN, "maxReceiveCount": 5})
    for operation, key, first, second, extra in (
        ("list_queues", "QueueUrls", sources[:1000], [*sources[1000:], "picops-ingest-dlq"], {}),
        (
            "list_dead_letter_source_queues",
            "queueUrls",
            sources[:1000],
            sources[1000:],
            {"QueueUrl": DLQ_URL},
        ),
    ):
        page = {key: [_url(n) for n in first], "NextToken": "page-2"}
        sqs.add_response(operation, page, {**extra, "MaxResults": 1000})
        last = {key: [_url(n) for n in second]}
        sqs.add_response(operation, last, {**extra, "MaxResults": 1000, "NextToken": "page-2"})
        if operation == "list_queues":
            for name in sources:
                arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"
                sqs.add_response(
                    "get_queue_attributes",
                    _attrs(arn, 0, policy),
                    {"QueueUrl": _url(name), "AttributeNames": ANY},
                )
            sqs.add_response(
                "get_queue_attributes", _attrs(DLQ_ARN, 3), {"QueueUrl": DLQ_URL, "AttributeNames": ANY}
            )
    for name in sources:
        arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"
        sqs.add_response(
            "get_queue_attributes", _attrs(arn, 0, policy), {"QueueUrl": _url(name), "AttributeNames": ANY}
        )
    with sqs, sts, Stubber(clients["cloudwatch"]) as cloudwatch:
        cloudwatch.add_response("get_metric_statistics", {"Datapoints": []})
        result = cli("dlq", "list", "--all", "--json")
    assert result.exit_code == 0, result.stderr
    (dlq,) = result.json()["dlqs"]
    assert dlq["name"] == "picops-ingest-dlq"
    assert sorted(s["name"] for s in dlq["sources"]) == sources
    sqs.assert_no_pending_responses()
