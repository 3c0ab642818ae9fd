"""IngestFunction's generated IAM policy matches what the ingest handler calls (the recorder and the
action map of tests/functional/test_moderation_iam.py): every call granted, every grant used."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests import ingest_support as ins
from tests.functional.test_moderation_iam import Recorder, _policy, recorder, ungranted, unused

__all__ = ["recorder"]  # the fixture, re-used


def _ingest_calls(recorder: Recorder, aws: Any, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    from picops.handlers import ingest

    ingest._settings.cache_clear()
    ingest._pipeline.cache_clear()
    stack = ins.create_stack(aws)
    photo = ins.put(aws, stack, "incoming/with space.jpg", ins.jpeg(300, 200, orientation=6))
    drop = ins.put(aws, stack, "incoming/drop.json", json.dumps([{"id": 1}, {"id": "b"}]).encode())
    broken = ins.put(aws, stack, "incoming/broken.png", b"not a png")
    event = ins.event_for([photo, drop, broken, photo], stack)  # the last one: a duplicate delivery
    try:
        response = recorder.run(ingest.handler, event, ins.FakeContext())
    finally:
        ingest._settings.cache_clear()
        ingest._pipeline.cache_clear()
    assert response == {"batchItemFailures": []}
    assert len(ins.notifications(aws, stack)) == 3
    return recorder.calls


def test_ingest_function_policy_grants_exactly_what_its_handler_calls(
    recorder: Recorder, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _ingest_calls(recorder, aws, monkeypatch)
    assert {c.operation for c in calls} >= {
        "GetObject",
        "PutObject",
        "UpdateItem",
        "GetItem",
        "PutItem",
        "BatchWriteItem",
        "Publish",
    }
    assert all(c.params.get("VersionId") for c in calls if c.operation == "GetObject")
    policy = _policy("IngestFunction")
    assert ungranted(calls, policy) == []
    assert unused("IngestFunction", calls, policy) == []
    # The check bites: without the thumbnail grant, PutObject is reported; writes never reach UploadsBucket.
    narrowed = copy.deepcopy(policy)
    narrowed["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "WriteProcessed"]
    assert any("s3:PutObject on arn:aws:s3:::picops-processed-" in p for p in ungranted(calls, narrowed))
    writes = [s for s in policy["Statement"] if "s3:PutObject" in s["Action"]]
    assert all("uploads" not in r for s in writes for r in s["Resource"])
