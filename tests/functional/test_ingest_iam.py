"""IngestFunction's generated IAM policy matches what the ingest handler calls (the recorder and the
action map of tests/functional/test_moderation_iam.py): every call granted, every grant used."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from picops.handlers import _env
from tests import ingest_support as ins
from tests.functional.test_ingest_deletions import removal_event
from tests.functional.test_moderation_iam import (
    Call,
    Recorder,
    _policy,
    allows,
    needs_of,
    recorder,
    ungranted,
    unused,
)

__all__ = ["recorder"]  # the fixture, re-used


def _ingest_calls(recorder: Recorder, aws: Any, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    from picops.handlers import ingest

    _env.reset()
    stack = ins.create_stack(aws)
    photo = ins.put(aws, stack, "incoming/with space.jpg", ins.jpeg(300, 200, orientation=6))
    drop = ins.put(aws, stack, "incoming/drop.json", json.dumps([{"id": 1}, {"id": "b"}]).encode())
    broken = ins.put(aws, stack, "incoming/broken.png", b"not a png")
    gone = _deleted(aws, stack, "incoming/gone.jpg")
    event = ins.event_for([photo, drop, broken, gone, photo], stack)  # the last one: a duplicate delivery
    s3 = aws.client("s3")
    try:
        response = recorder.run(ingest.handler, event, ins.FakeContext())
        # Derived outputs follow their original: a delete marker on the photo, a removed version of the drop.
        marker = s3.delete_object(Bucket=stack.uploads, Key=photo["key"])["VersionId"]
        s3.delete_object(Bucket=stack.uploads, Key=drop["key"], VersionId=drop["version"])
        for removal in (
            removal_event(stack, photo["key"], marker, marker=True),
            removal_event(stack, drop["key"], drop["version"]),
        ):
            assert recorder.run(ingest.handler, removal, ins.FakeContext()) == {"batchItemFailures": []}
    finally:
        _env.reset()
    assert response == {"batchItemFailures": []}
    assert len(ins.notifications(aws, stack)) == 4
    return recorder.calls + _missing_object_checks(recorder.calls, {gone["key"]})


def _deleted(aws: Any, stack: ins.IngestStack, key: str) -> dict[str, Any]:
    """A notified version deleted before the handler reads it."""
    obj = ins.put(aws, stack, key, ins.jpeg())
    aws.client("s3").delete_object(Bucket=stack.uploads, Key=key, VersionId=obj["version"])
    return obj


def _missing_object_checks(calls: list[Call], missing: set[str]) -> list[Call]:
    # AWS answers a GET of a missing object NoSuchKey (404) only to a caller also allowed s3:ListBucket on the
    # bucket, evaluated with the key as s3:prefix; anyone else gets AccessDenied (403), which the handler
    # must treat as transient. So each such GET implies that list check.
    return [
        Call("s3", "ListObjectsV2", {"Bucket": c.params["Bucket"], "Prefix": c.params["Key"]})
        for c in calls
        if c.operation == "GetObject" and c.params["Key"] in missing
    ]


def _lists(policy: dict[str, Any], bucket: str, prefix: str) -> bool:
    """Whether `policy` allows listing `bucket` with `prefix` as s3:prefix (strict mode's evaluation)."""
    call = Call("s3", "ListObjectsV2", {"Bucket": bucket, "Prefix": prefix})
    return all(allows(policy, call, need) for need in needs_of(call))


def test_ingest_function_policy_grants_exactly_what_its_handler_calls(
    recorder: Recorder, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _ingest_calls(recorder, aws, monkeypatch)
    assert {c.operation for c in calls} >= {
        "GetObject",
        "PutObject",
        "UpdateItem",
        "PutItem",
        "BatchWriteItem",
        "Publish",
        "ListObjectVersions",
        "HeadObject",
        "DeleteObject",
        "DeleteItem",
    }
    assert all(c.params.get("VersionId") for c in calls if c.operation == "GetObject")
    policy = _policy("IngestFunction")
    assert ungranted(calls, policy) == []
    assert unused("IngestFunction", calls, policy) == []
    # The check bites: without the thumbnail grant, PutObject is reported; writes never reach UploadsBucket.
    narrowed = copy.deepcopy(policy)
    narrowed["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "WriteProcessed"]
    assert any("s3:PutObject on arn:aws:s3:::picops-processed-" in p for p in ungranted(calls, narrowed))
    writes = [s for s in policy["Statement"] if {"s3:PutObject", "s3:DeleteObject"} & set(s["Action"])]
    assert all("uploads" not in r for s in writes for r in s["Resource"])


def test_a_missing_upload_is_a_404_so_its_job_fails_once_and_is_not_retried(
    recorder: Recorder, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from picops.handlers import ingest

    _env.reset()
    stack = ins.create_stack(aws)
    gone = _deleted(aws, stack, "incoming/gone photo.jpg")
    try:
        response = recorder.run(ingest.handler, ins.event_for([gone], stack), ins.FakeContext())
    finally:
        _env.reset()
    # Acknowledged (not in batchItemFailures), so SQS never redelivers it towards IngestDLQ.
    assert response == {"batchItemFailures": []}
    (job,) = ins.job_items(aws, stack, gone["key"])
    assert (job["status"], job["reason"]) == ("FAILED", "object deleted before processing")
    assert [n["attributes"]["status"] for n in ins.notifications(aws, stack)] == ["failed"]
    # moto answers 404 whatever the policy; on AWS the role must be allowed to list the key for that answer.
    (get,) = [c for c in recorder.calls if c.operation == "GetObject"]
    policy = _policy("IngestFunction")
    assert _lists(policy, get.params["Bucket"], get.params["Key"])
    # Listing stays within the ingest prefix.
    assert not _lists(policy, get.params["Bucket"], "private/other.jpg")
    assert not _lists(policy, get.params["Bucket"], "")
