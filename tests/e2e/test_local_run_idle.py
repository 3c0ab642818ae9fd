"""`local run --until-idle` never reports idle with messages in flight: it waits for them to come back and
handles them, or exits 4 saying the queues are not drained (docs/local.md)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests import local_support as ls


def _queue_with_mapping(factory: Any, visibility: int) -> str:
    sqs = factory.client("sqs")
    url = sqs.create_queue(
        QueueName=f"idle-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": str(visibility)}
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    ls.record_mapping(
        factory,
        ls.mapping_record("TestMapping", queue_arn=arn, handler="tests.local_support.partial_handler"),
    )
    return url


def _receive_and_abandon(factory: Any, url: str, count: int, *, visibility: int | None = None) -> None:
    """What a `local run` killed mid-batch leaves behind: messages received and never deleted."""
    sqs = factory.client("sqs")
    for i in range(count):
        sqs.send_message(QueueUrl=url, MessageBody=f"ok-{i}")
    extra = {} if visibility is None else {"VisibilityTimeout": visibility}
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, **extra).get("Messages", [])
    assert len(got) == count


@pytest.mark.usefixtures("iam_off")
def test_messages_in_flight_from_a_killed_run_are_waited_for_and_handled(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    url = _queue_with_mapping(server_factory, 8)
    _receive_and_abandon(server_factory, url, 4)
    result = cli("local", "run", "--until-idle", "--json", endpoint=endpoint)
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert (doc["idle"], doc["drained"], doc["pending"]) == (True, True, [])
    assert doc["mappings"][0]["records"] == 4, result.stderr
    assert "4 message(s) in flight on TestQueue, visible again within 8 s" in result.stderr
    assert ls.queue_counts(server_factory, url) == (0, 0)


@pytest.mark.usefixtures("iam_off")
def test_messages_that_stay_in_flight_exit_4_not_drained(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    # Received with a visibility far beyond the queue's own: they cannot come back within the wait.
    url = _queue_with_mapping(server_factory, 1)
    _receive_and_abandon(server_factory, url, 2, visibility=600)
    result = cli("local", "run", "--until-idle", "--json", endpoint=endpoint)
    assert result.exit_code == 4, result.stderr
    doc = result.json()
    assert (doc["idle"], doc["drained"]) == (False, False)
    (pending,) = doc["pending"]
    assert (pending["logical"], pending["in_flight"]) == ("TestMapping", 2)
