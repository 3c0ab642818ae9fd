"""The dlq demo step on in-process moto, with IngestQueue/IngestDLQ made the way provision makes them."""

from __future__ import annotations

import json
from typing import Any

from picops.cli.demo_steps import DemoContext
from picops.cli.demo_steps.dlq import STEP
from picops.cli.output import Output
from picops.config import Settings
from picops.stack.names import StackNames
from tests.dlq_support import counts, drain


def _provision(sqs: Any, names: StackNames) -> tuple[str, str]:
    dlq = sqs.create_queue(QueueName=names.physical("IngestDLQ"))["QueueUrl"]
    policy = json.dumps({"deadLetterTargetArn": names.arn("IngestDLQ"), "maxReceiveCount": "5"})
    src = sqs.create_queue(QueueName=names.physical("IngestQueue"), Attributes={"RedrivePolicy": policy})
    return src["QueueUrl"], dlq


def test_demo_step_redrives_the_poisoned_message(aws: Any) -> None:
    settings = Settings()
    names = StackNames(settings, aws.account_id(), aws.region)
    sqs = aws.client("sqs")
    src, dlq = _provision(sqs, names)

    result = STEP.run(DemoContext(settings=settings, factory=aws, out=Output()))

    assert result.ok, result.detail
    assert result.data["before"]["dlq"] == 1
    assert result.data["after"] == {"dlq": 0, "source": 1}
    assert counts(sqs, dlq) == (0, 0)
    (message,) = drain(sqs, src)
    assert message.message_attributes["picops-demo"]["StringValue"] == result.data["marker"]


def test_demo_step_fails_without_the_stack(aws: Any) -> None:
    result = STEP.run(DemoContext(settings=Settings(), factory=aws, out=Output()))
    assert not result.ok
    assert "does not exist" in result.detail
