"""A DLQ's scheduled redrive on moto: it moves the DLQ back to its source within its caps, stops for good
once the DLQ's alarm fires again after a redrive, and an emptied DLQ resumes it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from picops.core.dlq.auto_redrive import MOVED_TAG, STOPPED_TAG
from picops.handlers import _env, repairs
from tests.bookings_support import FakeContext

CONTEXT = FakeContext("dlq-redrive", remaining_ms=900_000)
ALARM = "picops-IngestDLQ-visible"


@pytest.fixture
def queues(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str, str]]:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    _env.reset()
    sqs = aws.client("sqs")
    dlq = sqs.create_queue(QueueName="picops-ingest-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source = sqs.create_queue(
        QueueName="picops-ingest",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})},
    )["QueueUrl"]
    aws.client("cloudwatch").put_metric_alarm(
        AlarmName=ALARM,
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": "picops-ingest-dlq"}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )
    yield sqs, dlq, source
    _env.reset()


def _event(max_messages: int = 1000) -> dict[str, Any]:
    return {
        "dlq": "IngestDLQ",
        "source": "IngestQueue",
        "alarm": ALARM,
        "rate": 100.0,
        "max_messages": max_messages,
    }


def _count(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def _fill(sqs: Any, url: str, n: int) -> None:
    for i in range(n):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": i}))


def test_a_run_moves_the_dlq_back_to_its_source_within_its_cap(queues: tuple[Any, str, str]) -> None:
    sqs, dlq, source = queues
    _fill(sqs, dlq, 5)
    result = repairs.redrive_handler(_event(max_messages=3), CONTEXT)
    assert (result["outcome"], result["moved"]) == ("max", 3)
    assert (_count(sqs, dlq), _count(sqs, source)) == (2, 3)
    assert MOVED_TAG in sqs.list_queue_tags(QueueUrl=dlq)["Tags"]
    assert repairs.redrive_handler(_event(), CONTEXT)["moved"] == 2


def test_it_stops_once_the_alarm_fires_again_after_a_redrive_until_the_dlq_is_emptied(
    aws: Any, queues: tuple[Any, str, str]
) -> None:
    sqs, dlq, source = queues
    _fill(sqs, dlq, 2)
    # Marked as moved a minute ago; the messages came back and the alarm fired since.
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    sqs.tag_queue(QueueUrl=dlq, Tags={MOVED_TAG: f"{earlier:%Y-%m-%dT%H:%M:%SZ}"})
    aws.client("cloudwatch").set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="test")
    stopped = repairs.redrive_handler(_event(), CONTEXT)
    assert stopped["outcome"] == "stopped"
    assert f"{ALARM} fired again" in stopped["detail"]
    assert (_count(sqs, dlq), _count(sqs, source)) == (2, 0)
    # Stays stopped whatever the alarm does next, until the DLQ is seen empty.
    aws.client("cloudwatch").set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="test")
    assert repairs.redrive_handler(_event(), CONTEXT)["outcome"] == "stopped"
    sqs.purge_queue(QueueUrl=dlq)
    assert repairs.redrive_handler(_event(), CONTEXT)["outcome"] == "empty"
    assert set(sqs.list_queue_tags(QueueUrl=dlq).get("Tags", {})) & {MOVED_TAG, STOPPED_TAG} == set()
    _fill(sqs, dlq, 1)
    assert repairs.redrive_handler(_event(), CONTEXT)["moved"] == 1


def test_an_alarm_that_fired_before_the_redrive_does_not_stop_it(
    aws: Any, queues: tuple[Any, str, str]
) -> None:
    sqs, dlq, source = queues
    aws.client("cloudwatch").set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="test")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    sqs.tag_queue(QueueUrl=dlq, Tags={MOVED_TAG: f"{later:%Y-%m-%dT%H:%M:%SZ}"})
    _fill(sqs, dlq, 2)
    assert repairs.redrive_handler(_event(), CONTEXT)["moved"] == 2
    assert _count(sqs, source) == 2
