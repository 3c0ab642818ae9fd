"""The three moderation Lambdas on real-shaped events, against in-process moto."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from picops.core.tagging.sweep import SWEEP_STATE_KEY, load_continuation
from picops.handlers import _env
from picops.stack.names import StackNames
from tests import tagging_support as ts
from tests.conftest import load_event


@dataclass
class FakeContext:
    """The LambdaContext attributes the handlers read."""

    remaining_ms: int = 900_000
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:picops-moderation-sweep"
    function_name: str = "picops-moderation-sweep"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "5b1c2b8e-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def handlers(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The handler module with per-container caches cleared (each test is a fresh container)."""
    from picops.handlers import moderation

    monkeypatch.setenv("AWS_REGION", "us-east-1")
    _env.reset()
    yield moderation
    _env.reset()


def _stack(aws: Any) -> StackNames:
    stack = ts.create_stack(aws)
    ts.put_objects(
        aws,
        stack.uploads_bucket,
        ts.ODD_KEYS,
        {
            "incoming/plus+sign.jpg": {ts.TAG_KEY: "flagged", "owner": "ana"},
            "incoming/with space.jpg": {"a": "1"},
        },
    )
    return stack


def test_stream_insert_and_modify_tag_now_remove_keeps_tag(handlers: Any, aws: Any) -> None:
    stack = _stack(aws)
    response = handlers.stream_handler(load_event("dynamodb_stream_moderation.json"), FakeContext())
    assert response == {"batchItemFailures": []}
    assert ts.tags_of(aws, stack.uploads_bucket, "incoming/with space.jpg") == {
        "a": "1",
        ts.TAG_KEY: "approved",
    }
    assert ts.tags_of(aws, stack.uploads_bucket, "incoming/ünïcødé-写真.jpg") == {ts.TAG_KEY: "rejected"}
    assert ts.tags_of(aws, stack.uploads_bucket, "incoming/plus+sign.jpg") == {
        ts.TAG_KEY: "flagged",
        "owner": "ana",
    }


def test_stream_remove_can_be_configured_to_remove(
    handlers: Any, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICOPS_MODERATION__ON_REMOVE", "remove")
    stack = _stack(aws)
    event = load_event("dynamodb_stream_moderation.json")
    event["Records"] = [r for r in event["Records"] if r["eventName"] == "REMOVE"]
    assert handlers.stream_handler(event, FakeContext()) == {"batchItemFailures": []}
    assert ts.tags_of(aws, stack.uploads_bucket, "incoming/plus+sign.jpg") == {"owner": "ana"}


def test_stream_malformed_records_are_skipped(handlers: Any, aws: Any) -> None:
    stack = _stack(aws)
    event = load_event("dynamodb_stream_moderation.json")
    good = event["Records"][0]
    no_key = copy.deepcopy(good)
    no_key["dynamodb"]["NewImage"] = {"status": {"S": "approved"}}
    no_key["dynamodb"]["SequenceNumber"] = "900"
    bad_type = copy.deepcopy(good)
    bad_type["dynamodb"]["NewImage"]["object_key"] = {"N": "12"}
    bad_type["dynamodb"]["SequenceNumber"] = "901"
    no_verdict = copy.deepcopy(good)
    del no_verdict["dynamodb"]["NewImage"]["status"]
    no_verdict["dynamodb"]["SequenceNumber"] = "902"
    event["Records"] = [no_key, bad_type, no_verdict, good]
    assert handlers.stream_handler(event, FakeContext()) == {"batchItemFailures": []}
    assert ts.tags_of(aws, stack.uploads_bucket, "incoming/with space.jpg")[ts.TAG_KEY] == "approved"


def test_stream_transient_errors_are_reported_by_sequence_number(
    handlers: Any, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICOPS_AWS__MAX_ATTEMPTS", "1")
    stack = _stack(aws)
    s3 = _env.factory().client("s3", concurrency=1)

    def slow_down(request: Any, **_: Any) -> AWSResponse | None:
        # S3 answers 503 SlowDown for one object: a transient error once botocore's attempts are spent.
        if "with%20space" in request.url and request.method == "GET":
            body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            return AWSResponse(request.url, 503, {}, _Raw(body))
        return None

    s3.meta.events.register("before-send.s3.GetObjectTagging", slow_down)
    try:
        response = handlers.stream_handler(load_event("dynamodb_stream_moderation.json"), FakeContext())
    finally:
        s3.meta.events.unregister("before-send.s3.GetObjectTagging", slow_down)
    assert response == {"batchItemFailures": [{"itemIdentifier": "4421584500000000017450439091"}]}
    assert ts.tags_of(aws, stack.uploads_bucket, "incoming/ünïcødé-写真.jpg") == {ts.TAG_KEY: "rejected"}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def test_sweep_resumes_across_runs_until_the_cycle_completes(handlers: Any, aws: Any) -> None:
    stack = ts.create_stack(aws)
    keys = [f"incoming/s{i:03}.jpg" for i in range(250)]
    ts.put_objects(aws, stack.uploads_bucket, keys)
    ts.put_verdicts(aws, stack.moderation_table, dict.fromkeys(keys[::5], "approved"))
    event = load_event("eventbridge_scheduled.json")

    class ShortLived(FakeContext):
        """Enough time for one chunk of 100 per invocation, then below the 15 s margin: the sweep asks once
        before it starts (its opening margin check) and once per object considered."""

        calls = 0

        def get_remaining_time_in_millis(self) -> int:
            self.calls += 1
            return 60_000 if self.calls <= 1 + 100 else 1_000

    first = handlers.sweep_handler(event, ShortLived())
    assert first["cycle_complete"] is False
    assert first["scanned"] == 100
    assert first["next_start_after"] == keys[99]
    assert load_continuation(aws.client("s3"), stack.uploads_bucket).start_after == keys[99]
    second = handlers.sweep_handler(event, ShortLived())
    assert second["start_after"] == keys[99]
    assert second["scanned"] == 100
    third = handlers.sweep_handler(event, FakeContext())
    assert third["cycle_complete"] is True
    assert third["scanned"] == 50
    assert third["next_start_after"] is None
    tagged = ts.all_tags(aws, stack.uploads_bucket, "incoming/")
    assert {k for k, t in tagged.items() if t} == set(keys[::5])
    # the continuation object is never itself tagged, and the next run starts a new cycle
    assert ts.tags_of(aws, stack.uploads_bucket, SWEEP_STATE_KEY) == {}
    fourth = handlers.sweep_handler(event, FakeContext())
    assert fourth["start_after"] is None
    assert fourth["unchanged"] == 50


@pytest.mark.parametrize("name", ["s3_batch_operations_1_0.json", "s3_batch_operations_2_0.json"])
def test_batch_operations_invocations(handlers: Any, aws: Any, name: str) -> None:
    stack = _stack(aws)
    ts.put_verdicts(
        aws,
        stack.moderation_table,
        {
            "incoming/with space.jpg": "approved",
            "incoming/plus+sign.jpg": "rejected",
            "incoming/gone.jpg": "approved",
        },
    )
    event = load_event(name)
    response = handlers.batch_handler(event, FakeContext())
    assert response["invocationSchemaVersion"] == event["invocationSchemaVersion"]
    assert response["invocationId"] == event["invocationId"]
    assert response["treatMissingKeysAs"] == "PermanentFailure"
    codes = {r["taskId"]: (r["resultCode"], r["resultString"]) for r in response["results"]}
    assert len(codes) == len(event["tasks"])
    if name.endswith("1_0.json"):
        assert codes["dGFza2lkZ29lc2hlcmUK"][0] == "Succeeded"
        assert ts.tags_of(aws, stack.uploads_bucket, "incoming/with space.jpg")[ts.TAG_KEY] == "approved"
    else:
        assert codes["dGFza2lkZ29lc2hlcmUK"] == ("Succeeded", "tagged: rejected")
        assert codes["dGFza2lkZ29lc2hlcmUL"] == ("Succeeded", "pending: no verdict yet")
        assert codes["dGFza2lkZ29lc2hlcmUM"] == ("Succeeded", "pending: no verdict yet")
        assert codes["dGFza2lkZ29lc2hlcmUN"][0] == "PermanentFailure"
        assert ts.tags_of(aws, stack.uploads_bucket, "incoming/plus+sign.jpg") == {
            ts.TAG_KEY: "rejected",
            "owner": "ana",
        }
    # the sweeper's function (the job's target, through an alias) hands these events to batch_handler
    assert handlers.sweep_handler(event, FakeContext())["results"][0]["resultCode"] == "Succeeded"


def test_batch_operations_rejects_unknown_schema(handlers: Any, aws: Any) -> None:
    event = load_event("s3_batch_operations_2_0.json")
    event["invocationSchemaVersion"] = "3.0"
    with pytest.raises(ValueError, match="invocationSchemaVersion"):
        handlers.batch_handler(event, FakeContext())


def test_stream_whole_batch_transient_is_still_a_partial_response(
    handlers: Any, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICOPS_AWS__MAX_ATTEMPTS", "1")
    _stack(aws)
    s3 = _env.factory().client("s3", concurrency=1)

    def unavailable(request: Any, **_: Any) -> AWSResponse:
        body = b"<Error><Code>ServiceUnavailable</Code><Message>try again</Message></Error>"
        return AWSResponse(request.url, 503, {}, _Raw(body))

    event = load_event("dynamodb_stream_moderation.json")
    event["Records"] = event["Records"][:1]
    s3.meta.events.register("before-send.s3.GetObjectTagging", unavailable)
    try:
        response = handlers.stream_handler(event, FakeContext())
    finally:
        s3.meta.events.unregister("before-send.s3.GetObjectTagging", unavailable)
    assert response == {"batchItemFailures": [{"itemIdentifier": "4421584500000000017450439091"}]}
