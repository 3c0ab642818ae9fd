"""The ingest Lambda on real-shaped SQS-wrapped S3 notifications, against in-process moto."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import botocore.exceptions
import pytest
from botocore.awsrequest import AWSResponse

from picops.handlers import _env
from tests import ingest_support as ins
from tests.conftest import load_event


def _run(ingest: Any, event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = ingest.handler(event, ins.FakeContext())
    return response


def _failed_ids(response: dict[str, Any]) -> list[str]:
    return sorted(f["itemIdentifier"] for f in response["batchItemFailures"])


def test_the_fixture_event_key_is_decoded_and_becomes_a_thumbnail_job_and_one_notification(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    key = (
        "incoming/holiday photos/beach day été.jpg"  # the fixture's `holiday+photos/beach+day+%C3%A9t%C3%A9`
    )
    obj = ins.put(aws, stack, key, ins.jpeg())
    event = load_event("sqs_s3_put.json")
    body = json.loads(event["Records"][0]["body"])
    body["Records"][0]["s3"]["object"].update(versionId=obj["version"], eTag=obj["etag"], size=obj["size"])
    event["Records"][0]["body"] = json.dumps(body)
    assert _run(ingest, event) == {"batchItemFailures": []}

    s3 = aws.client("s3")
    thumb = s3.get_object(Bucket=stack.processed, Key=f"thumbnails/{key}.jpg")
    assert thumb["ContentType"] == "image/jpeg"
    assert unquote(thumb["Metadata"]["picops-source-key"]) == key
    assert thumb["Metadata"]["picops-source-version"] == obj["version"]
    image = ins.open_image(thumb["Body"].read())
    assert image.format == "JPEG"
    assert max(image.size) == 256
    assert image.size == (256, 171)
    assert not image.getexif()
    assert "icc_profile" not in image.info

    (job,) = ins.job_items(aws, stack, key)
    assert job["status"] == "PROCESSED"
    assert job["kind"] == "image"
    assert job["version"] == obj["version"]
    assert job["outputs"] == f"thumbnails/{key}.jpg"
    assert job["attempts"] == 1
    assert job["notified"]
    assert job["size"] == obj["size"]
    assert job["etag"] == obj["etag"]
    (note,) = ins.notifications(aws, stack)
    assert note["attributes"] == {"status": "processed", "kind": "image", "bucket": stack.uploads}
    assert note["body"]["key"] == key
    assert note["body"]["outputs"] == f"thumbnails/{key}.jpg"
    assert note["body"]["version"] == obj["version"]
    assert note["body"]["status"] == "processed"


def test_odd_keys_round_trip_exactly(ingest: Any, aws: Any, stack: ins.IngestStack) -> None:
    objects = [ins.put(aws, stack, key, ins.jpeg(64, 48)) for key in ins.ODD_KEYS]
    assert _run(ingest, ins.event_for(objects, stack)) == {"batchItemFailures": []}
    listed = aws.client("s3").list_objects_v2(Bucket=stack.processed)["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(f"thumbnails/{k}.jpg" for k in ins.ODD_KEYS)
    for key in ins.ODD_KEYS:
        (job,) = ins.job_items(aws, stack, key)
        assert (job["key"], job["status"]) == (key, "PROCESSED")
    assert sorted(n["body"]["key"] for n in ins.notifications(aws, stack)) == sorted(ins.ODD_KEYS)


def test_test_event_and_foreign_bodies_are_acknowledged_without_work(
    ingest: Any,
    aws: Any,
    stack: ins.IngestStack,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert _run(ingest, load_event("sqs_s3_test_event.json")) == {"batchItemFailures": []}
    foreign = ins.sqs_event(
        ["not json at all", {"hello": "world"}, {"Records": [{"eventSource": "aws:sns"}]}]
    )
    assert _run(ingest, foreign) == {"batchItemFailures": []}
    assert ins.notifications(aws, stack) == []
    assert aws.client("dynamodb").scan(TableName=stack.table)["Count"] == 0
    assert caplog.text.count("message is not an S3 notification") == 3
    assert "s3:TestEvent acknowledged" in caplog.text
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    # the EMF metric the dashboard reads (picops.stack.metrics), in the stack's namespace
    unrecognised = [doc for doc in emf if "IngestUnrecognised" in doc]
    assert [doc["IngestUnrecognised"] for doc in unrecognised] == [[1.0, 1.0, 1.0]]
    assert unrecognised[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "PicOps"
    assert unrecognised[0]["service"] == "picops"


def test_a_multi_record_body_processes_every_record(ingest: Any, aws: Any, stack: ins.IngestStack) -> None:
    png = ins.put(aws, stack, "incoming/a b.png", ins.png_alpha())
    drop = ins.put(aws, stack, "incoming/drops/records.json", json.dumps([{"id": 7, "n": 1.5}]).encode())
    event = load_event("sqs_s3_multi_record.json")
    body = json.loads(event["Records"][0]["body"])
    assert len(body["Records"]) == 2
    for record, obj in zip(body["Records"], (png, drop), strict=True):
        record["s3"]["object"].update(versionId=obj["version"], eTag=obj["etag"], size=obj["size"])
    event["Records"][0]["body"] = json.dumps(body)
    assert _run(ingest, event) == {"batchItemFailures": []}
    assert [j["status"] for j in ins.job_items(aws, stack, "incoming/a b.png")] == ["PROCESSED"]
    assert [j["outputs"] for j in ins.job_items(aws, stack, "incoming/drops/records.json")] == [1]
    assert sorted(n["attributes"]["kind"] for n in ins.notifications(aws, stack)) == ["image", "json"]


def test_duplicate_delivery_of_one_version_does_the_work_once(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    obj = ins.put(aws, stack, "incoming/dup.jpg", ins.jpeg())
    twice = ins.sqs_event([{"Records": ins.s3_records([obj], stack.uploads)}] * 2)
    s3 = _env.factory().client("s3")
    with ins.count_calls_context(s3) as calls:
        assert _run(ingest, twice) == {"batchItemFailures": []}
        # An SQS redelivery of the first message later: still nothing new.
        assert _run(ingest, ins.sqs_event([twice["Records"][0]["body"]])) == {"batchItemFailures": []}
    assert calls.get("PutObject") == 1
    (job,) = ins.job_items(aws, stack, "incoming/dup.jpg")
    assert job["attempts"] == 1
    assert len(ins.notifications(aws, stack)) == 1


def test_a_crash_between_job_write_and_publish_still_ends_with_exactly_one_notification(
    ingest: Any, aws: Any, stack: ins.IngestStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICOPS_AWS__MAX_ATTEMPTS", "1")
    obj = ins.put(aws, stack, "incoming/crash.jpg", ins.jpeg())
    event = ins.event_for([obj], stack)
    sns = _env.factory().client("sns")

    def down(**_: Any) -> None:
        raise botocore.exceptions.EndpointConnectionError(endpoint_url="https://sns.us-east-1.amazonaws.com")

    sns.meta.events.register("before-send.sns.Publish", down)
    try:
        response = _run(ingest, event)
    finally:
        sns.meta.events.unregister("before-send.sns.Publish", down)
    assert _failed_ids(response) == [event["Records"][0]["messageId"]]
    (job,) = ins.job_items(aws, stack, "incoming/crash.jpg")
    assert (job["status"], job["notified"]) == ("PROCESSED", False)
    assert ins.notifications(aws, stack) == []
    # Lambda retries the message: no second thumbnail, one notification, then nothing more.
    s3 = _env.factory().client("s3")
    with ins.count_calls_context(s3) as calls:
        assert _run(ingest, event) == {"batchItemFailures": []}
        assert _run(ingest, event) == {"batchItemFailures": []}
    assert "PutObject" not in calls
    assert len(ins.notifications(aws, stack)) == 1
    (job,) = ins.job_items(aws, stack, "incoming/crash.jpg")
    assert job["notified"]
    assert job["attempts"] == 1


def test_a_new_object_costs_five_requests_and_its_notification_matches_the_job_record(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    obj = ins.put(aws, stack, "incoming/five.jpg", ins.jpeg())
    event = ins.event_for([obj], stack)
    clients = [_env.factory().client(name) for name in ("s3", "dynamodb", "sns")]
    with contextlib.ExitStack() as stacked:
        counted = [stacked.enter_context(ins.count_calls_context(c)) for c in clients]
        assert _run(ingest, event) == {"batchItemFailures": []}
    calls = {op: n for counts in counted for op, n in counts.items()}
    assert calls == {"GetObject": 1, "UpdateItem": 2, "PutObject": 1, "Publish": 1}
    (job,) = ins.job_items(aws, stack, "incoming/five.jpg")
    (note,) = ins.notifications(aws, stack)
    # Published before the outcome's write, yet it says what the record says.
    assert job["notified"]
    for name in ("status", "finished_at", "attempts", "version", "etag", "outputs", "renditions"):
        assert note["body"][name] == (job[name].lower() if name == "status" else job[name]), name


class _Crash(BaseException):
    """The process dying: nothing in the handler catches it."""


def test_a_crash_between_publish_and_the_outcome_write_is_taken_over_after_the_lease(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    obj = ins.put(aws, stack, "incoming/late.jpg", ins.jpeg())
    event = ins.event_for([obj], stack)
    dynamodb = _env.factory().client("dynamodb")

    def crash(params: dict[str, Any], **_: Any) -> None:
        if "#notified = " in params["UpdateExpression"]:
            raise _Crash

    dynamodb.meta.events.register("provide-client-params.dynamodb.UpdateItem", crash)
    try:
        with pytest.raises(_Crash):
            _run(ingest, event)
    finally:
        dynamodb.meta.events.unregister("provide-client-params.dynamodb.UpdateItem", crash)
    (job,) = ins.job_items(aws, stack, "incoming/late.jpg")
    assert job["status"] == "IN_PROGRESS"
    published = ins.notifications(aws, stack)  # the tap is drained on each read
    assert [n["body"]["attempts"] for n in published] == [1]
    # A redelivery while the crashed attempt's lease lasts waits: nothing published, nothing redone.
    assert _failed_ids(_run(ingest, event)) == [event["Records"][0]["messageId"]]
    assert ins.notifications(aws, stack) == []
    _expire_lease(aws, stack, "incoming/late.jpg", obj["version"])
    assert _run(ingest, event) == {"batchItemFailures": []}
    (job,) = ins.job_items(aws, stack, "incoming/late.jpg")
    assert (job["status"], job["attempts"], job["notified"]) == ("PROCESSED", 2, True)
    # The one point of at-least-once (docs/ingest.md): the takeover publishes again, then never more.
    assert _run(ingest, event) == {"batchItemFailures": []}
    assert [n["body"]["attempts"] for n in ins.notifications(aws, stack)] == [2]


def test_a_lease_too_short_to_publish_first_records_then_publishes_then_marks(
    aws: Any, stack: ins.IngestStack
) -> None:
    from picops.core.ingest.events import ObjectRef
    from picops.core.ingest.pipeline import IngestConfig, IngestPipeline, Outcome

    obj = ins.put(aws, stack, "incoming/short.jpg", ins.jpeg())
    ref = ObjectRef(stack.uploads, "incoming/short.jpg", obj["version"], obj["etag"], obj["size"])
    dynamodb = aws.client("dynamodb")
    config = IngestConfig(stack.uploads, stack.processed, stack.table, stack.topic_arn)
    pipeline = IngestPipeline(aws.client("s3"), dynamodb, aws.client("sns"), config)
    with ins.count_calls_context(dynamodb) as calls:
        assert pipeline.process(ref, lease_s=2).outcome == Outcome.PROCESSED
    assert calls == {"UpdateItem": 3}  # claim, outcome, then `notified` once published
    (job,) = ins.job_items(aws, stack, "incoming/short.jpg")
    assert (job["status"], job["notified"]) == ("PROCESSED", True)
    assert len(ins.notifications(aws, stack)) == 1


def _expire_lease(aws: Any, stack: ins.IngestStack, key: str, version: str) -> None:
    """Time passing beyond the lease, without waiting for it."""
    aws.client("dynamodb").update_item(
        TableName=stack.table,
        Key={"pk": {"S": f"OBJ#{stack.uploads}/{key}"}, "sk": {"S": f"V#{version}"}},
        UpdateExpression="SET lease_until = :past",
        ExpressionAttributeValues={":past": {"N": "1"}},
    )


@pytest.mark.parametrize(
    ("key", "body", "reason"),
    [
        ("incoming/truncated.jpg", ins.jpeg()[:600], "corrupt JPEG image"),
        ("incoming/text.png", b"this is plain text, named .png", "not an image picops reads"),
        ("incoming/gif-named.jpg", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "corrupt GIF image"),
        ("incoming/bomb.png", ins.png_header_only(20_000, 20_000), "too many pixels"),
        ("incoming/bad.json", b'{"id": 1,, }', "invalid JSON"),
        ("incoming/not-objects.json", b'[{"id": 1}, 2]', "record 1 is a number, not an object"),
    ],
)
def test_permanent_failures_fail_the_job_notify_and_acknowledge(
    ingest: Any, aws: Any, stack: ins.IngestStack, key: str, body: bytes, reason: str
) -> None:
    obj = ins.put(aws, stack, key, body)
    assert _run(ingest, ins.event_for([obj], stack)) == {"batchItemFailures": []}
    (job,) = ins.job_items(aws, stack, key)
    assert job["status"] == "FAILED", job
    assert reason in job["reason"], job
    (note,) = ins.notifications(aws, stack)
    assert note["attributes"]["status"] == "failed"
    assert reason in note["body"]["reason"]
    assert "Contents" not in aws.client("s3").list_objects_v2(Bucket=stack.processed)
    # No record of a failed drop was written (all or nothing).
    items = aws.client("dynamodb").scan(TableName=stack.table)["Items"]
    assert all(i["pk"]["S"].startswith(("OBJ#", "FAILED#")) for i in items)


def test_pillow_decompression_bomb_warning_is_an_error(
    ingest: Any, aws: Any, stack: ins.IngestStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Our cap above Pillow's (~89 MP): Pillow's own warning must still stop the decode.
    monkeypatch.setenv("PICOPS_INGEST__MAX_PIXELS", "900000000")
    obj = ins.put(aws, stack, "incoming/bomb2.png", ins.png_header_only(10_000, 10_000))
    assert _run(ingest, ins.event_for([obj], stack)) == {"batchItemFailures": []}
    (job,) = ins.job_items(aws, stack, "incoming/bomb2.png")
    assert job["status"] == "FAILED"
    assert "too many pixels" in job["reason"]
    assert "decompression" in job["reason"]


def test_too_large_is_refused_before_download(
    ingest: Any, aws: Any, stack: ins.IngestStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICOPS_INGEST__MAX_BYTES", "1000")
    obj = ins.put(aws, stack, "incoming/big.jpg", ins.jpeg())
    assert obj["size"] > 1000
    assert _run(ingest, ins.event_for([obj], stack)) == {"batchItemFailures": []}
    (job,) = ins.job_items(aws, stack, "incoming/big.jpg")
    assert job["status"] == "FAILED"
    assert "over [ingest] max_bytes 1,000" in job["reason"]


def test_an_object_deleted_before_processing_fails_without_a_retry_loop(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    obj = ins.put(aws, stack, "incoming/gone.jpg", ins.jpeg())
    aws.client("s3").delete_object(Bucket=stack.uploads, Key=obj["key"], VersionId=obj["version"])
    assert _run(ingest, ins.event_for([obj], stack)) == {"batchItemFailures": []}
    (job,) = ins.job_items(aws, stack, "incoming/gone.jpg")
    assert job["status"] == "FAILED"
    assert job["reason"] == "object deleted before processing"
    assert ins.notifications(aws, stack)[0]["attributes"]["status"] == "failed"


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def test_throttling_puts_exactly_the_affected_messages_in_batch_item_failures(
    ingest: Any, aws: Any, stack: ins.IngestStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICOPS_AWS__MAX_ATTEMPTS", "1")
    objects = [ins.put(aws, stack, f"incoming/t{i}.jpg", ins.jpeg(64, 64)) for i in range(4)]
    event = ins.event_for(objects, stack)
    s3 = _env.factory().client("s3")
    throttled = {"incoming/t1.jpg", "incoming/t3.jpg"}

    def slow_down(request: Any, **_: Any) -> AWSResponse | None:
        if any(k.split("/")[1] in request.url for k in throttled):
            body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            return AWSResponse(request.url, 503, {}, _Raw(body))
        return None

    s3.meta.events.register("before-send.s3.GetObject", slow_down)
    try:
        response = _run(ingest, event)
    finally:
        s3.meta.events.unregister("before-send.s3.GetObject", slow_down)
    ids = {
        json.loads(r["body"])["Records"][0]["s3"]["object"]["key"]: r["messageId"] for r in event["Records"]
    }
    assert _failed_ids(response) == sorted(ids[k] for k in throttled)
    assert [j["status"] for k in throttled for j in ins.job_items(aws, stack, k)] == []
    # The retry succeeds; the messages already done are not redone.
    retry = {"Records": [r for r in event["Records"] if r["messageId"] in _failed_ids(response)]}
    assert _run(ingest, retry) == {"batchItemFailures": []}
    assert len(ins.notifications(aws, stack)) == 4


def test_a_transient_error_after_the_claim_releases_it_for_the_retry(
    ingest: Any, aws: Any, stack: ins.IngestStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICOPS_AWS__MAX_ATTEMPTS", "1")
    obj = ins.put(aws, stack, "incoming/put-fails.jpg", ins.jpeg(64, 64))
    event = ins.event_for([obj], stack)
    s3 = _env.factory().client("s3")

    def unavailable(request: Any, **_: Any) -> AWSResponse:
        body = b"<Error><Code>ServiceUnavailable</Code><Message>busy</Message></Error>"
        return AWSResponse(request.url, 503, {}, _Raw(body))

    s3.meta.events.register("before-send.s3.PutObject", unavailable)
    try:
        assert _failed_ids(_run(ingest, event)) == [event["Records"][0]["messageId"]]
    finally:
        s3.meta.events.unregister("before-send.s3.PutObject", unavailable)
    (job,) = ins.job_items(aws, stack, obj["key"])
    assert job["status"] == "IN_PROGRESS"
    assert _run(ingest, event) == {"batchItemFailures": []}
    (job,) = ins.job_items(aws, stack, obj["key"])
    assert (job["status"], job["attempts"]) == ("PROCESSED", 2)
    assert len(ins.notifications(aws, stack)) == 1


def test_prefix_suffix_bucket_and_loop_guard_misses_are_skipped(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    outside = ins.put(aws, stack, "elsewhere/photo.jpg", ins.jpeg(32, 32))
    wrong_suffix = ins.put(aws, stack, "incoming/notes.txt", b"hello")
    reserved = ins.put(aws, stack, "_picops/moderation-sweep.json", b"{}")
    output = ins.put(
        aws,
        stack,
        "incoming/copied-thumb.jpg",
        ins.jpeg(32, 32),
        Metadata={"picops-source-key": "incoming/x.jpg"},
    )
    foreign = {"Records": ins.s3_records([outside], "someone-elses-bucket")}
    event = ins.event_for([outside, wrong_suffix, reserved, output], stack)
    event["Records"] += ins.sqs_event([foreign])["Records"]
    assert _run(ingest, event) == {"batchItemFailures": []}
    assert aws.client("dynamodb").scan(TableName=stack.table)["Count"] == 0
    assert ins.notifications(aws, stack) == []
    assert "Contents" not in aws.client("s3").list_objects_v2(Bucket=stack.processed)


def _nested_drop(levels: int) -> bytes:
    """One record nested `levels` deep, the record itself being level 1 (as DynamoDB counts an item)."""
    inner = "1"
    for _ in range(levels - 1):
        inner = '{"a": ' + inner + "}"
    return ('{"id": "deep", "v": ' + inner + "}").encode()


@pytest.mark.parametrize("levels", [33, 600, 990])
def test_a_drop_nested_deeper_than_dynamodb_allows_fails_once_with_the_reason(
    ingest: Any, aws: Any, stack: ins.IngestStack, levels: int
) -> None:
    # DynamoDB refuses items nested over 32 levels (ValidationException, which would be retried into
    # IngestDLQ); deeper still, walking the record recursively would exhaust the stack.
    obj = ins.put(aws, stack, "incoming/deep.json", _nested_drop(levels))
    assert _run(ingest, ins.event_for([obj], stack)) == {"batchItemFailures": []}
    (job,) = ins.job_items(aws, stack, "incoming/deep.json")
    assert job["status"] == "FAILED", job
    # Parsed or not (the parser's own depth guard may stop it first), the reason names the limit.
    assert "nested more than 32 levels deep, over DynamoDB's item nesting limit" in job["reason"]
    (note,) = ins.notifications(aws, stack)
    assert note["attributes"]["status"] == "failed"
    assert (
        not aws.client("dynamodb")
        .get_item(TableName=stack.table, Key={"pk": {"S": "deep"}, "sk": {"S": "RECORD"}})
        .get("Item")
    )


def test_a_drop_nested_exactly_32_levels_is_stored(ingest: Any, aws: Any, stack: ins.IngestStack) -> None:
    obj = ins.put(aws, stack, "incoming/deep.json", _nested_drop(32))
    assert _run(ingest, ins.event_for([obj], stack)) == {"batchItemFailures": []}
    (job,) = ins.job_items(aws, stack, "incoming/deep.json")
    assert job["status"] == "PROCESSED", job
