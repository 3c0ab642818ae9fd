"""How the ingest Lambda classifies AWS errors and meets AWS's limits, through the handler on in-process moto.

Transient errors (throttling, 5xx, timeouts, connection errors) put the message in batchItemFailures and the
retry succeeds; every other AWS error ends the job FAILED with operation, code and message, one `failed`
notification, and the message acknowledged (docs/ingest.md, "Failure policy" and "Limits and their errors").
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import botocore.exceptions
import pytest
from botocore.awsrequest import AWSResponse

from picops.handlers import _env
from tests import ingest_support as ins


@pytest.fixture
def ingest(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The handler module with per-container caches cleared; one attempt per AWS call (no SDK retries)."""
    from picops.aws import lambda_factory
    from picops.handlers import _env
    from picops.handlers import ingest as module

    monkeypatch.setenv("AWS_REGION", ins.REGION)
    monkeypatch.setenv("PICOPS_AWS__MAX_ATTEMPTS", "1")
    lambda_factory.cache_clear()
    _env.reset()
    yield module
    lambda_factory.cache_clear()
    _env.reset()


def _error(code: str, status: int) -> Callable[..., tuple[AWSResponse, dict[str, Any]]]:
    """A before-call answer, as botocore's Stubber gives one: the request is never sent, so the service (moto)
    does nothing, exactly as when AWS refuses a request."""

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        parsed = {
            "Error": {"Code": code, "Message": f"injected {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return AWSResponse("https://injected", status, {}, None), parsed

    return answer


def _raises(exc: Exception) -> Callable[..., AWSResponse]:
    def send(**_: Any) -> AWSResponse:
        raise exc

    return send


def _run(ingest: Any, event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = ingest.handler(event, ins.FakeContext())
    return response


def _inject(
    ingest: Any, service: str, operation: str, send: Callable[..., Any], event: dict[str, Any]
) -> Any:
    client = _env.factory().client(service)
    name = f"before-call.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    client.meta.events.register(name, send)
    try:
        return _run(ingest, event)
    finally:
        client.meta.events.unregister(name, send)


# (service, operation, the object to upload, the injected answer, the code the reason names)
_IMAGE = ("incoming/photo.jpg", ins.jpeg(64, 64))
_DROP = ("incoming/drop.json", b'[{"id": "a"}, {"id": "b"}]')
PERMANENT = [
    ("s3", "GetObject", _IMAGE, _error("AccessDenied", 403), "GetObject: AccessDenied"),
    ("s3", "GetObject", _IMAGE, _error("InvalidObjectState", 403), "GetObject: InvalidObjectState"),
    ("s3", "GetObject", _DROP, _error("InvalidRequest", 400), "GetObject: InvalidRequest"),
    ("s3", "PutObject", _IMAGE, _error("AccessDenied", 403), "PutObject: AccessDenied"),
    ("s3", "PutObject", _IMAGE, _error("NoSuchBucket", 404), "PutObject: NoSuchBucket"),
    ("s3", "PutObject", _IMAGE, _error("InvalidArgument", 400), "PutObject: InvalidArgument"),
    ("dynamodb", "BatchWriteItem", _DROP, _error("ValidationException", 400), "ValidationException"),
    ("dynamodb", "BatchWriteItem", _DROP, _error("AccessDeniedException", 400), "AccessDeniedException"),
    ("dynamodb", "BatchWriteItem", _DROP, _error("ResourceNotFoundException", 400), "ResourceNotFound"),
]
TRANSIENT = [
    ("s3", "GetObject", _IMAGE, _error("SlowDown", 503)),
    ("s3", "GetObject", _IMAGE, _error("InternalError", 500)),
    ("s3", "GetObject", _DROP, _error("RequestTimeout", 400)),
    ("s3", "PutObject", _IMAGE, _error("ServiceUnavailable", 503)),
    ("s3", "GetObject", _IMAGE, _raises(botocore.exceptions.ReadTimeoutError(endpoint_url="http://s3"))),
    ("s3", "PutObject", _IMAGE, _raises(botocore.exceptions.EndpointConnectionError(endpoint_url="x"))),
    ("dynamodb", "BatchWriteItem", _DROP, _error("ProvisionedThroughputExceededException", 400)),
    ("dynamodb", "BatchWriteItem", _DROP, _error("ThrottlingException", 400)),
    ("dynamodb", "BatchWriteItem", _DROP, _error("InternalServerError", 500)),
    ("dynamodb", "BatchWriteItem", _DROP, _error("TooManyRequests", 429)),
]


@pytest.mark.parametrize(("service", "operation", "upload", "send", "named"), PERMANENT)
def test_a_permanent_aws_error_fails_the_job_with_its_operation_and_code_and_acknowledges(
    ingest: Any,
    aws: Any,
    stack: ins.IngestStack,
    service: str,
    operation: str,
    upload: tuple[str, bytes],
    send: Callable[..., Any],
    named: str,
) -> None:
    key, body = upload
    event = ins.event_for([ins.put(aws, stack, key, body)], stack)
    assert _inject(ingest, service, operation, send, event) == {"batchItemFailures": []}
    (job,) = ins.job_items(aws, stack, key)
    assert job["status"] == "FAILED", job
    assert named in job["reason"], job
    assert "injected" in job["reason"], job
    (note,) = ins.notifications(aws, stack)
    assert note["attributes"]["status"] == "failed"
    assert named in note["body"]["reason"]
    # A redelivery of the acknowledged message is a duplicate: nothing is redone or renotified.
    assert _run(ingest, event) == {"batchItemFailures": []}
    assert ins.notifications(aws, stack) == []


@pytest.mark.parametrize(("service", "operation", "upload", "send"), TRANSIENT)
def test_a_transient_error_is_retried_and_the_retry_finishes_the_job(
    ingest: Any,
    aws: Any,
    stack: ins.IngestStack,
    service: str,
    operation: str,
    upload: tuple[str, bytes],
    send: Callable[..., Any],
) -> None:
    key, body = upload
    event = ins.event_for([ins.put(aws, stack, key, body)], stack)
    response = _inject(ingest, service, operation, send, event)
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [event["Records"][0]["messageId"]]
    assert [j["status"] for j in ins.job_items(aws, stack, key)] in ([], ["IN_PROGRESS"])
    assert ins.notifications(aws, stack) == []
    assert _run(ingest, event) == {"batchItemFailures": []}
    (job,) = ins.job_items(aws, stack, key)
    assert job["status"] == "PROCESSED", job
    assert len(ins.notifications(aws, stack)) == 1


def test_a_permanent_error_recording_the_job_itself_is_retried_not_lost(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    # The claim is the job record: when DynamoDB refuses it there is nowhere to record FAILED, so the message
    # goes back to the queue (and to IngestDLQ if the set-up is never fixed).
    key, body = _IMAGE
    event = ins.event_for([ins.put(aws, stack, key, body)], stack)
    refuse = _error("AccessDeniedException", 400)
    response = _inject(ingest, "dynamodb", "UpdateItem", refuse, event)
    assert len(response["batchItemFailures"]) == 1
    assert [j["status"] for j in ins.job_items(aws, stack, key)] == []
    assert _run(ingest, event) == {"batchItemFailures": []}
    assert [j["status"] for j in ins.job_items(aws, stack, key)] == ["PROCESSED"]


# -- limits, each checked before any write -------------------------------------------------------------


def test_a_drop_id_over_the_partition_key_limit_fails_the_drop_naming_the_limit(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    fits, over = "é" * 1024, "x" * 2049  # 2,048 bytes (stored) and 2,049 bytes (refused)
    drop = json.dumps([{"id": fits, "n": 1}]).encode()
    obj = ins.put(aws, stack, "incoming/ok.json", drop)
    assert _run(ingest, ins.event_for([obj], stack)) == {"batchItemFailures": []}
    assert [j["status"] for j in ins.job_items(aws, stack, "incoming/ok.json")] == ["PROCESSED"]

    obj = ins.put(aws, stack, "incoming/long-id.json", json.dumps([{"id": "a"}, {"id": over}]).encode())
    assert _run(ingest, ins.event_for([obj], stack)) == {"batchItemFailures": []}
    (job,) = ins.job_items(aws, stack, "incoming/long-id.json")
    assert job["status"] == "FAILED"
    assert job["reason"] == "record 1: id is 2,049 bytes, over DynamoDB's 2,048-byte partition key limit"
    table = aws.client("dynamodb")
    assert "Item" not in table.get_item(TableName=stack.table, Key={"pk": {"S": "a"}, "sk": {"S": "RECORD"}})


def test_a_failing_object_with_a_1000_byte_key_is_listed_among_the_failures(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    # `<stamp>#OBJ#<bucket>/<key>#V#<version>` would pass the failure index's 1,024-byte sort key limit.
    from picops.core.ingest import JobStore

    key = "incoming/" + "k" * (1000 - len("incoming/") - len(".jpg")) + ".jpg"
    obj = ins.put(aws, stack, key, b"not an image at all")
    assert _run(ingest, ins.event_for([obj], stack)) == {"batchItemFailures": []}
    (job,) = ins.job_items(aws, stack, key)
    assert job["status"] == "FAILED"
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    failures = JobStore(aws.client("dynamodb"), stack.table).failures(since)
    assert [(f.key, f.version) for f in failures] == [(key, obj["version"])]
    assert (note := ins.notifications(aws, stack)[0])["body"]["key"] == key, note


def test_a_thumbnail_key_over_s3s_key_limit_fails_before_anything_is_written(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    key = "incoming/" + "t" * (1020 - len("incoming/") - len(".jpg")) + ".jpg"  # thumbnails/<key>.jpg: 1,035
    obj = ins.put(aws, stack, key, ins.jpeg(64, 64))
    assert _run(ingest, ins.event_for([obj], stack)) == {"batchItemFailures": []}
    (job,) = ins.job_items(aws, stack, key)
    assert job["status"] == "FAILED"
    assert job["reason"] == (
        "thumbnail key thumbnails/<key>.jpg would be 1,035 bytes, over S3's 1,024-byte key limit"
    )
    assert "Contents" not in aws.client("s3").list_objects_v2(Bucket=stack.processed)


def test_a_key_whose_encoded_form_passes_the_metadata_limit_is_carried_by_the_job_record(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    import hashlib

    key = "incoming/" + "写" * 300 + ".jpg"  # 913 bytes; percent-encoded 2,713: over S3's 2 KB of metadata
    obj = ins.put(aws, stack, key, ins.jpeg(64, 64))
    assert _run(ingest, ins.event_for([obj], stack)) == {"batchItemFailures": []}
    (job,) = ins.job_items(aws, stack, key)
    assert (job["status"], job["key"]) == ("PROCESSED", key)
    thumb = aws.client("s3").head_object(Bucket=stack.processed, Key=f"thumbnails/{key}.jpg")
    assert thumb["Metadata"]["picops-source-key"] == "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    assert thumb["Metadata"]["picops-source-version"] == obj["version"]


def test_a_forged_notification_naming_a_key_longer_than_s3_allows_fails_with_the_limit(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    # S3 keys stop at 1,024 bytes; a notification from elsewhere can name any key. The job item's partition
    # key would pass DynamoDB's 2,048 bytes, so it is hashed and the key kept in the `key` attribute.
    key = "incoming/" + "f" * 3000 + ".jpg"
    forged = {"key": key, "version": "v1", "etag": "0" * 32, "size": 10}
    assert _run(ingest, ins.event_for([forged], stack)) == {"batchItemFailures": []}
    (job,) = ins.job_items(aws, stack, key)
    assert (job["status"], job["key"]) == ("FAILED", key)
    assert job["reason"] == "object key is 3,013 bytes, over S3's 1,024-byte key limit"
    (note,) = ins.notifications(aws, stack)
    assert note["body"]["key"] == key


def test_a_message_body_nested_too_deeply_to_parse_is_acknowledged_as_unrecognised(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    # Not an S3 notification and never will be: acknowledged (and counted), not retried into IngestDLQ.
    event = ins.sqs_event(["[" * 100_000 + "]" * 100_000])
    assert _run(ingest, event) == {"batchItemFailures": []}
    assert aws.client("dynamodb").scan(TableName=stack.table)["Count"] == 0


def test_a_drop_failing_part_way_for_good_leaves_none_of_its_records(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    # 30 records are two BatchWriteItem chunks: the first is written, the second refused for good. The drop
    # is all or nothing, so the first chunk's records are removed again; a record of another drop stays.
    other = ins.put(aws, stack, "incoming/other.json", json.dumps([{"id": "keep-me", "v": 1}]).encode())
    assert _run(ingest, ins.event_for([other], stack)) == {"batchItemFailures": []}
    records = [{"id": f"r{i}", "v": i} for i in range(30)]
    drop = ins.put(aws, stack, "incoming/big.json", json.dumps(records).encode())
    calls = {"n": 0}
    refuse = _error("ValidationException", 400)

    def second_chunk_refused(**kwargs: Any) -> Any:
        calls["n"] += 1
        return refuse(**kwargs) if calls["n"] == 2 else None

    assert _inject(
        ingest, "dynamodb", "BatchWriteItem", second_chunk_refused, ins.event_for([drop], stack)
    ) == {"batchItemFailures": []}
    (job,) = ins.job_items(aws, stack, "incoming/big.json")
    assert job["status"] == "FAILED", job
    assert "ValidationException" in job["reason"]
    table = aws.client("dynamodb")
    left = [
        table.get_item(TableName=stack.table, Key={"pk": {"S": f"r{i}"}, "sk": {"S": "RECORD"}}).get("Item")
        for i in range(30)
    ]
    assert left == [None] * 30
    kept = table.get_item(TableName=stack.table, Key={"pk": {"S": "keep-me"}, "sk": {"S": "RECORD"}})
    assert "Item" in kept
