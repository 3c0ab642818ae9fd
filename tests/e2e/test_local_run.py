"""`picops local run` against the moto server: the real CLI, the real stack, the real handlers."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from picops.config import Settings
from picops.stack.names import StackNames
from tests import local_support as ls

pytestmark = pytest.mark.e2e


def _names(factory: Any) -> StackNames:
    return StackNames(Settings(), factory.account_id(), factory.region)


def _tags(factory: Any, bucket: str, key: str) -> dict[str, str]:
    tag_set = factory.client("s3").get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    return {t["Key"]: t["Value"] for t in tag_set}


def _verdict(factory: Any, names: StackNames, key: str, verdict: str) -> None:
    factory.client("dynamodb").put_item(
        TableName=names.moderation_table, Item={"object_key": {"S": key}, "status": {"S": verdict}}
    )


def test_verdict_is_tagged_by_the_stream_handler_and_uploads_reach_the_ingest_handler(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    provisioned = cli("provision", "--yes", "--json", endpoint=endpoint)
    assert provisioned.exit_code == 0, provisioned.stderr
    names = _names(server_factory)
    s3 = server_factory.client("s3")
    key = f"moderation-demo/stream-{uuid.uuid4()}.jpg"
    s3.put_object(Bucket=names.uploads_bucket, Key=key, Body=b"img")
    # Under the ingest prefix: S3 notifies IngestQueue.
    s3.put_object(Bucket=names.uploads_bucket, Key="incoming/photo.jpg", Body=b"img")
    ingest_url = names.queue_url("IngestQueue", endpoint)
    before = ls.queue_counts(server_factory, ingest_url)
    assert before[0] >= 1
    _verdict(server_factory, names, key, "approved")

    result = cli("local", "run", "--once", "--json", endpoint=endpoint)
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    by_logical = {m["logical"]: m for m in doc["mappings"]}
    stream = by_logical["ModerationStreamFunctionMapping"]
    assert stream["status"] == "ok"
    assert stream["source"] == "ModerationTable"
    assert stream["handler"] == "picops.handlers.moderation.stream_handler"
    assert stream["invocations"] >= 1
    assert stream["records"] >= 1
    assert stream["failed_records"] == 0
    assert _tags(server_factory, names.uploads_bucket, key) == {"moderation-status": "approved"}

    # The ingest mapping is served: the upload (not an image) fails its job and is acknowledged.
    ingest = by_logical["IngestFunctionMapping"]
    assert ingest["status"] == "ok", ingest
    assert ingest["handler"] == "picops.handlers.ingest.handler"
    assert ingest["invocations"] >= 1
    assert ingest["failed_records"] == 0
    assert ls.queue_counts(server_factory, ingest_url) == (0, 0)
    assert "handler not available: picops.handlers.ingest.handler" not in result.stderr
    assert doc["sweeps"] == 0

    # A second run has nothing new on the stream (the checkpoint is kept on the endpoint); the sweep
    # schedule fired once repairs a tag removed behind the stream's back.
    s3.delete_object_tagging(Bucket=names.uploads_bucket, Key=key)
    again = cli("local", "run", "--once", "--sweep-every", "1", "--json", endpoint=endpoint)
    assert again.exit_code == 0, again.stderr
    doc2 = again.json()
    stream2 = next(m for m in doc2["mappings"] if m["logical"] == "ModerationStreamFunctionMapping")
    assert stream2["records"] == 0
    assert doc2["sweeps"] == 1
    assert _tags(server_factory, names.uploads_bucket, key) == {"moderation-status": "approved"}


@pytest.mark.usefixtures("iam_off")
def test_serving_mode_delivers_until_the_duration_ends(cli: Any, endpoint: str, server_factory: Any) -> None:
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    names = _names(server_factory)
    key = f"moderation-demo/serve-{uuid.uuid4()}.jpg"
    server_factory.client("s3").put_object(Bucket=names.uploads_bucket, Key=key, Body=b"img")
    _verdict(server_factory, names, key, "rejected")
    result = cli("local", "run", "--duration", "3", "--sweep-every", "1", "--json", endpoint=endpoint)
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    stream = next(m for m in doc["mappings"] if m["logical"] == "ModerationStreamFunctionMapping")
    assert stream["records"] >= 1
    assert 1 <= doc["sweeps"] <= 3  # the schedule fires every second, first one second in
    assert doc["sweep_errors"] == 0
    assert _tags(server_factory, names.uploads_bucket, key) == {"moderation-status": "rejected"}


def _test_queue(factory: Any) -> tuple[str, str]:
    sqs = factory.client("sqs")
    url = sqs.create_queue(QueueName="runtime-test", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


@pytest.mark.usefixtures("iam_off")
def test_batch_item_failure_leaves_exactly_that_message(cli: Any, endpoint: str, server_factory: Any) -> None:
    url, arn = _test_queue(server_factory)
    ls.record_mapping(
        server_factory,
        ls.mapping_record("TestMapping", queue_arn=arn, handler="tests.local_support.partial_handler"),
    )
    sqs = server_factory.client("sqs")
    for body in ("ok-1", "fail-2", "ok-3", "ok-4"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    ls.CALLS.clear()
    result = cli("local", "run", "--once", "--json", endpoint=endpoint)
    assert result.exit_code == 0, result.stderr
    (mapping,) = result.json()["mappings"]
    assert mapping["records"] == 4
    assert mapping["failed_records"] == 1
    assert mapping["status"] == "ok"
    # Only the failed message is left (in flight until its visibility timeout, then redelivered).
    assert ls.queue_counts(server_factory, url) == (0, 1)
    # The handler ran as its function: that function's environment and a context with its timeout.
    call = ls.CALLS[0]
    assert call["function_name"] == "picops-ingest"
    assert call["stack_env"] == "picops"
    assert call["endpoint_env"] == endpoint
    assert 0 < call["remaining_ms"] <= 900_000
    record = call["event"]["Records"][0]
    assert record["eventSourceARN"] == arn
    assert record["eventSource"] == "aws:sqs"
    assert set(record) >= {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
    }


@pytest.mark.usefixtures("iam_off")
def test_function_error_exits_1_and_keeps_the_messages(cli: Any, endpoint: str, server_factory: Any) -> None:
    url, arn = _test_queue(server_factory)
    ls.record_mapping(
        server_factory,
        ls.mapping_record(
            "TestMapping", queue_arn=arn, handler="tests.local_support.raising_handler", report_failures=False
        ),
    )
    server_factory.client("sqs").send_message(QueueUrl=url, MessageBody="x")
    result = cli("local", "run", "--once", "--json", endpoint=endpoint)
    assert result.exit_code == 1
    (mapping,) = result.json()["mappings"]
    assert mapping["status"] == "error"
    assert "boom" in mapping["detail"]
    assert ls.queue_counts(server_factory, url) == (0, 1)


@pytest.mark.usefixtures("iam_off")
def test_missing_handler_module_is_skipped_and_its_messages_untouched(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    url, arn = _test_queue(server_factory)
    ls.record_mapping(
        server_factory,
        ls.mapping_record("TestMapping", queue_arn=arn, handler="tests.no_such_module.handler"),
    )
    server_factory.client("sqs").send_message(QueueUrl=url, MessageBody="x")
    result = cli("local", "run", "--once", "--json", endpoint=endpoint)
    assert result.exit_code == 0, result.stderr
    (mapping,) = result.json()["mappings"]
    assert mapping["status"] == "skipped"
    assert mapping["detail"] == "handler not available: tests.no_such_module.handler"
    assert ls.queue_counts(server_factory, url) == (1, 0)
    attrs = server_factory.client("sqs").receive_message(
        QueueUrl=url, MessageSystemAttributeNames=["ApproximateReceiveCount"]
    )["Messages"][0]["Attributes"]
    assert attrs["ApproximateReceiveCount"] == "1"  # this receive is the first


@pytest.mark.usefixtures("iam_off")
def test_stream_retries_within_one_run_then_moves_on(cli: Any, endpoint: str, server_factory: Any) -> None:
    ddb = server_factory.client("dynamodb")
    arn = ddb.create_table(
        TableName="runtime-verdicts",
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    record = ls.mapping_record("TestStream", queue_arn=arn, handler="tests.local_support.stream_fail_bad")
    record["mapping"].update(StartingPosition="TRIM_HORIZON", MaximumRetryAttempts=1)
    ls.record_mapping(server_factory, record)
    for key in ("a", "bad", "c"):
        ddb.put_item(TableName="runtime-verdicts", Item={"k": {"S": key}})
    ls.CALLS.clear()
    result = cli("local", "run", "--once", "--json", endpoint=endpoint)
    assert result.exit_code == 0, result.stderr
    (mapping,) = result.json()["mappings"]
    keys = [[r["dynamodb"]["Keys"]["k"]["S"] for r in c["event"]["Records"]] for c in ls.CALLS]
    # The batch, one retry from the failed record, then the failed batch is skipped.
    assert keys == [["a", "bad", "c"], ["bad", "c"]]
    assert mapping["invocations"] == 2
    assert mapping["status"] == "ok"
    ddb.put_item(TableName="runtime-verdicts", Item={"k": {"S": "d"}})
    ls.CALLS.clear()
    assert cli("local", "run", "--once", "--json", endpoint=endpoint).exit_code == 0
    assert [[r["dynamodb"]["Keys"]["k"]["S"] for r in c["event"]["Records"]] for c in ls.CALLS] == [["d"]]


@pytest.mark.parametrize(
    "args",
    [
        ["--endpoint-url", "http://example.com:4566"],
        ["--endpoint-url", "https://sqs.us-east-1.amazonaws.com"],
        [],
    ],
)
def test_refuses_anything_but_a_local_endpoint(cli: Any, args: list[str]) -> None:
    result = cli(*args, "local", "run", "--once", "--json")
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert "local endpoint" in result.stderr


def test_no_recorded_mappings_is_a_missing_resource(cli: Any, endpoint: str) -> None:
    result = cli("local", "run", "--once", endpoint=endpoint)
    assert result.exit_code == 3
    # The hint keeps the target: run as written, it provisions this endpoint, never a real account.
    assert f"picops --endpoint-url {endpoint} provision" in result.stderr


@pytest.mark.usefixtures("iam_off")
def test_ctrl_c_is_a_clean_stop(
    cli: Any, endpoint: str, server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from picops.local.runtime import LocalRuntime

    _url, arn = _test_queue(server_factory)
    ls.record_mapping(
        server_factory,
        ls.mapping_record("TestMapping", queue_arn=arn, handler="tests.local_support.partial_handler"),
    )

    def interrupted(self: LocalRuntime, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(LocalRuntime, "serve", interrupted)
    result = cli("local", "run", "--json", endpoint=endpoint)
    # Interrupted: the summary is still printed, and the exit says so (130, state left resumable).
    assert result.exit_code == 130, result.stderr
    assert result.json()["mappings"][0]["logical"] == "TestMapping"
    assert "stopped" in result.stderr
