"""The local runtime's SQS and stream pumps against mock_aws, with fake handlers (delete/retry semantics)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from picops.local.invoke import FunctionTarget, Invocation
from picops.local.mappings import MappingRecord
from picops.local.sqs_source import SqsSource
from picops.local.stats import MappingStats
from picops.local.stream_source import StreamSource, checkpoint_parameter
from tests.local_support import queue_counts

TARGET = FunctionTarget("IngestFunction", "picops-ingest", "tests.fake.handler", arn="arn:aws:lambda:x")


class FakeInvoke:
    """Calls `fn(event)` the way Invoker.invoke would, recording every event."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.events: list[dict[str, Any]] = []

    def __call__(self, target: FunctionTarget, handler: Any, event: Any) -> Invocation:
        self.events.append(event)
        try:
            return Invocation(self.fn(event), None, 0.0, False)
        except Exception as exc:
            return Invocation(None, exc, 0.0, False)


def _mapping(arn: str, **kw: Any) -> MappingRecord:
    base: dict[str, Any] = {
        "logical": "TestMapping",
        "function": "IngestFunction",
        "function_name": "picops-ingest",
        "handler": "tests.fake.handler",
        "source": "TestSource",
        "source_arn": arn,
        "batch_size": 10,
        "report_failures": True,
    }
    base.update(kw)
    return MappingRecord(**base)


def _queue(aws: Any, name: str, **attrs: str) -> tuple[str, str]:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _fail_bodies(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "batchItemFailures": [
            {"itemIdentifier": r["messageId"]} for r in event["Records"] if "fail" in r["body"]
        ]
    }


def _sqs_source(aws: Any, arn: str, invoke: FakeInvoke, **kw: Any) -> tuple[SqsSource, MappingStats]:
    stats = MappingStats("TestMapping", "TestSource", "tests.fake.handler")
    source = SqsSource(
        aws.client("sqs"), _mapping(arn, **kw), TARGET, lambda e, c: None, invoke, stats, lambda _: None
    )
    return source, stats


def _wait_none_in_flight(aws: Any, url: str, timeout_s: float = 30.0) -> None:
    """Wait for an observable state: every in-flight message back on the queue (its visibility timeout
    over), rather than for a fixed time."""
    sqs = aws.client("sqs")
    deadline = time.monotonic() + timeout_s
    while True:
        attrs = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )
        if attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0":
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{url}: messages still in flight after {timeout_s} s")
        time.sleep(0.05)


def _bodies(aws: Any, url: str, *, wait_visible: bool = True) -> list[str]:
    """The bodies left on a queue whose visibility timeout is 1 s (waits for in-flight ones to return)."""
    if wait_visible:
        _wait_none_in_flight(aws, url)
    got = aws.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return sorted(m["Body"] for m in got.get("Messages", []))


def test_sqs_partial_failure_leaves_exactly_the_failed_message(aws: Any) -> None:
    url, arn = _queue(aws, "work", VisibilityTimeout="1")
    for body in ("ok-1", "fail-2", "ok-3"):
        aws.client("sqs").send_message(
            QueueUrl=url,
            MessageBody=body,
            MessageAttributes={"trace": {"DataType": "String", "StringValue": body}},
        )
    invoke = FakeInvoke(_fail_bodies)
    source, stats = _sqs_source(aws, arn, invoke)
    assert source.poll(0) == (3, 3)
    assert source.poll(0) == (0, 0)  # the failed one is invisible until its visibility timeout
    record = invoke.events[0]["Records"][0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == arn
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["trace"]["dataType"] == "String"
    assert (stats.invocations, stats.records, stats.failed_records, stats.status) == (1, 3, 1, "ok")
    assert _bodies(aws, url) == ["fail-2"]


def test_sqs_function_error_deletes_nothing(aws: Any) -> None:
    url, arn = _queue(aws, "boom", VisibilityTimeout="1")
    for body in ("a", "b"):
        aws.client("sqs").send_message(QueueUrl=url, MessageBody=body)

    def boom(event: dict[str, Any]) -> None:
        raise RuntimeError("handler exploded")

    source, stats = _sqs_source(aws, arn, FakeInvoke(boom), report_failures=False)
    source.poll(0)
    assert stats.status == "error"
    assert "handler exploded" in stats.detail
    assert _bodies(aws, url) == ["a", "b"]


def test_fifo_failure_blocks_the_rest_of_its_group(aws: Any) -> None:
    url, arn = _queue(
        aws, "orders.fifo", FifoQueue="true", ContentBasedDeduplication="true", VisibilityTimeout="1"
    )
    for group, body in (("g1", "g1-ok-1"), ("g1", "g1-fail-2"), ("g1", "g1-ok-3"), ("g2", "g2-ok-1")):
        aws.client("sqs").send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
    invoke = FakeInvoke(_fail_bodies)
    source, stats = _sqs_source(aws, arn, invoke)
    source.poll(0)
    groups = [r["attributes"]["MessageGroupId"] for r in invoke.events[0]["Records"]]
    assert sorted(groups) == ["g1", "g1", "g1", "g2"]
    assert stats.failed_records == 2  # fail-2 and the later g1-ok-3
    # Exactly those two stay (moto's FIFO redelivery order is unreliable, so count rather than receive).
    visible, in_flight = queue_counts(aws, url)
    assert (visible, in_flight) == (0, 2)


def test_failed_messages_reach_the_dlq_after_max_receive_count(aws: Any) -> None:
    dlq_url, dlq_arn = _queue(aws, "work-dlq")
    url, arn = _queue(
        aws,
        "work-redrive",
        VisibilityTimeout="1",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
    )
    aws.client("sqs").send_message(QueueUrl=url, MessageBody="always-fail")
    invoke = FakeInvoke(_fail_bodies)
    source, _stats = _sqs_source(aws, arn, invoke)
    assert source.poll(0)[0] == 1
    _wait_none_in_flight(aws, url)
    assert source.poll(0)[0] == 1  # redelivered once the visibility timeout passed
    _wait_none_in_flight(aws, url)
    assert source.poll(0)[0] == 0  # the third receive moves it to the DLQ instead
    assert [r["Records"][0]["attributes"]["ApproximateReceiveCount"] for r in invoke.events] == ["1", "2"]
    assert _bodies(aws, dlq_url) == ["always-fail"]
    assert _bodies(aws, url) == []


# -- DynamoDB stream --------------------------------------------------------------------------------


def _stream_table(aws: Any) -> str:
    ddb = aws.client("dynamodb")
    desc = ddb.create_table(
        TableName="verdicts",
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return str(desc["TableDescription"]["LatestStreamArn"])


def _put(aws: Any, *keys: str) -> None:
    for key in keys:
        aws.client("dynamodb").put_item(TableName="verdicts", Item={"k": {"S": key}, "v": {"S": "approved"}})


def _stream_source(aws: Any, arn: str, invoke: FakeInvoke, **kw: Any) -> tuple[StreamSource, MappingStats]:
    stats = MappingStats("TestMapping", "TestSource", "tests.fake.handler")
    source = StreamSource(
        aws.client("dynamodbstreams"),
        aws.client("ssm"),
        aws.client("sns"),
        aws.client("sqs"),
        stack="picops",
        mapping=_mapping(arn, starting_position="TRIM_HORIZON", **kw),
        target=TARGET,
        handler=lambda e, c: None,
        invoke=invoke,
        stats=stats,
        progress=lambda _: None,
        created_at=None,
    )
    return source, stats


def _keys(event: dict[str, Any]) -> list[str]:
    return [r["dynamodb"]["Keys"]["k"]["S"] for r in event["Records"]]


def test_stream_batches_checkpoint_and_resume(server_factory: Any) -> None:
    aws = server_factory  # moto's in-process mock lacks DynamoDB Streams reads; its server has them
    arn = _stream_table(aws)
    _put(aws, "a", "b", "c")
    invoke = FakeInvoke(lambda e: None)
    source, _stats = _stream_source(aws, arn, invoke, batch_size=2)
    assert source.poll(draining=True)[0] == 2
    assert source.poll(draining=True)[0] == 1
    assert source.poll(draining=True)[0] == 0
    assert [_keys(e) for e in invoke.events] == [["a", "b"], ["c"]]
    record = invoke.events[0]["Records"][0]
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventSourceARN"] == arn
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
    # A new source (a later `local run`) continues after the stored checkpoint.
    _put(aws, "d")
    later = FakeInvoke(lambda e: None)
    source2, _ = _stream_source(aws, arn, later)
    source2.poll(draining=True)
    assert [_keys(e) for e in later.events] == [["d"]]
    stored = json.loads(
        aws.client("ssm").get_parameter(Name=checkpoint_parameter("picops", "TestMapping"))["Parameter"][
            "Value"
        ]
    )
    assert stored["stream_arn"] == arn


def test_stream_partial_failure_retries_from_the_failed_record_then_gives_up(server_factory: Any) -> None:
    aws = server_factory  # moto's in-process mock lacks DynamoDB Streams reads; its server has them
    arn = _stream_table(aws)
    topic = aws.client("sns").create_topic(Name="alerts")["TopicArn"]
    alerts_url, alerts_arn = _queue(aws, "alerts-q")
    aws.client("sns").subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=alerts_arn, Attributes={"RawMessageDelivery": "true"}
    )
    _put(aws, "a", "bad", "c")

    def fail_bad(event: dict[str, Any]) -> dict[str, Any]:
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["dynamodb"]["SequenceNumber"]}
                for r in event["Records"]
                if r["dynamodb"]["Keys"]["k"]["S"] == "bad"
            ]
        }

    invoke = FakeInvoke(fail_bad)
    source, stats = _stream_source(aws, arn, invoke, max_retries=2, on_failure_arn=topic)
    while source.poll(draining=True)[0]:
        pass
    # First batch, then 2 retries from "bad" (the retry limit); then the failed batch ("bad" and the "c"
    # retried with it) is skipped, as Lambda checkpoints past a batch whose retries are exhausted.
    assert [_keys(e) for e in invoke.events] == [["a", "bad", "c"], ["bad", "c"], ["bad", "c"]]
    assert stats.status == "ok"  # reported failures are not function errors
    got = aws.client("sqs").receive_message(QueueUrl=alerts_url)["Messages"]
    info = json.loads(got[0]["Body"])["DDBStreamBatchInfo"]
    assert info["batchSize"] == 2
    assert info["streamArn"] == arn


def test_stream_function_error_bisects_then_counts_retries(server_factory: Any) -> None:
    aws = server_factory  # moto's in-process mock lacks DynamoDB Streams reads; its server has them
    arn = _stream_table(aws)
    _put(aws, "a", "b", "bad", "d")

    def boom_on_bad(event: dict[str, Any]) -> None:
        if "bad" in _keys(event):
            raise RuntimeError("bad record")

    invoke = FakeInvoke(boom_on_bad)
    source, stats = _stream_source(aws, arn, invoke, max_retries=1, bisect_on_error=True)
    for _ in range(20):
        if source.poll(draining=True)[0] == 0:
            break
    sizes = [_keys(e) for e in invoke.events]
    assert sizes[0] == ["a", "b", "bad", "d"]
    assert sizes[1] == ["a", "b"]  # bisected: the good half goes through
    assert ["bad"] in sizes  # narrowed down to the failing record
    assert sizes[-1] == ["d"]  # after giving up on "bad", the stream moves on
    assert stats.status == "error"
    assert stats.function_errors >= 2


@pytest.mark.parametrize("position", ["LATEST", "TRIM_HORIZON"])
def test_stream_starting_position_relative_to_the_mapping_record(server_factory: Any, position: str) -> None:
    aws = server_factory  # moto's in-process mock lacks DynamoDB Streams reads; its server has them
    import datetime as dt

    arn = _stream_table(aws)
    _put(aws, "before")
    time.sleep(1.1)  # the baseline has one-second precision
    created = dt.datetime.now(dt.UTC)
    _put(aws, "after")
    invoke = FakeInvoke(lambda e: None)
    stats = MappingStats("TestMapping", "TestSource", "tests.fake.handler")
    source = StreamSource(
        aws.client("dynamodbstreams"),
        aws.client("ssm"),
        aws.client("sns"),
        aws.client("sqs"),
        stack="picops",
        mapping=_mapping(arn, starting_position=position),
        target=TARGET,
        handler=lambda e, c: None,
        invoke=invoke,
        stats=stats,
        progress=lambda _: None,
        created_at=created,
    )
    while source.poll(draining=True)[0]:
        pass
    seen = [k for e in invoke.events for k in _keys(e)]
    assert seen == (["after"] if position == "LATEST" else ["before", "after"])
