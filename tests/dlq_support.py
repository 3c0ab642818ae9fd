"""Shared helpers for the dlq tests: queue pairs, filling, draining, and a faster moto clock."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from picops.core.dlq.messages import SYSTEM_ATTRIBUTES, QueueMessage


@pytest.fixture
def fast_moto_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's SQS reads the clock through a datetime round trip for every message on every call, which
    dominates its run time on deep queues; the same UTC epoch seconds from time.time() keep its semantics."""
    import moto.sqs.models as sqs_models

    monkeypatch.setattr(sqs_models, "unix_time", lambda dt=None: time.time() if dt is None else _epoch(dt))
    monkeypatch.setattr(
        sqs_models, "unix_time_millis", lambda dt=None: (time.time() if dt is None else _epoch(dt)) * 1000.0
    )
    return


def _epoch(dt: Any) -> float:
    from moto.core.utils import unix_time

    return float(unix_time(dt))


def make_pair(sqs: Any, name: str, *, fifo: bool = False, max_receive: int = 3) -> tuple[str, str, str, str]:
    """A source queue whose redrive policy targets a DLQ: (source url, source arn, dlq url, dlq arn)."""
    suffix = ".fifo" if fifo else ""
    attrs = {"FifoQueue": "true"} if fifo else {}
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq{suffix}", Attributes=attrs)["QueueUrl"]
    dlq_arn = arn_of(sqs, dlq_url)
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive)})
    src_url = sqs.create_queue(QueueName=f"{name}{suffix}", Attributes={**attrs, "RedrivePolicy": policy})[
        "QueueUrl"
    ]
    return src_url, arn_of(sqs, src_url), dlq_url, dlq_arn


def arn_of(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def fill(sqs: Any, url: str, count: int, *, fifo: bool = False, groups: int = 4, start: int = 0) -> None:
    """`count` messages with a JSON body {seq, group, kind}, and String, Number and Binary attributes."""
    for first in range(start, start + count, 10):
        entries = []
        for seq in range(first, min(first + 10, start + count)):
            group = f"g{seq % groups}"
            entry: dict[str, Any] = {
                "Id": f"e{seq}",
                "MessageBody": json.dumps(
                    {"seq": seq, "group": group, "kind": "even" if seq % 2 == 0 else "odd"}
                ),
                "MessageAttributes": {
                    "seq": {"DataType": "Number", "StringValue": str(seq)},
                    "tenant": {"DataType": "String", "StringValue": f"t{seq % 3}"},
                    "blob": {"DataType": "Binary", "BinaryValue": seq.to_bytes(4, "big")},
                },
            }
            if fifo:
                entry["MessageGroupId"] = group
                entry["MessageDeduplicationId"] = f"orig-{seq}"
            entries.append(entry)
        response = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert not response.get("Failed"), response["Failed"]


def drain(sqs: Any, url: str, *, wait: int = 0) -> list[QueueMessage]:
    """Receive and delete everything in the queue, in receive order."""
    out: list[QueueMessage] = []
    empty = 0
    while empty < 2:
        raw = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait,
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=list(SYSTEM_ATTRIBUTES),
        ).get("Messages", [])
        if not raw:
            empty += 1
            continue
        empty = 0
        batch = [QueueMessage.from_sqs(m) for m in raw]
        out.extend(batch)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": f"d{i}", "ReceiptHandle": m.receipt_handle} for i, m in enumerate(batch)],
        )
    return out


def counts(sqs: Any, url: str) -> tuple[int, int]:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def seqs(messages: list[QueueMessage]) -> list[int]:
    return [int(json.loads(m.body)["seq"]) for m in messages]
