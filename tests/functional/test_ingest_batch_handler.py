"""`picops.handlers.ingest.batch_handler`: S3 Batch Operations tasks (the real-shaped 1.0 and 2.0 events)
re-render what each stored original lacks, one result per task, through the IngestFunction entry too."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_plus

import pytest

from picops.handlers import _env
from tests import ingest_support as ins
from tests.conftest import load_event

RENDITIONS = [
    {"name": "thumbnail", "max_size": 256, "format": "jpeg", "quality": 85},
    {"name": "small", "max_size": 96, "format": "webp", "quality": 70},
]


def _stored(ingest: Any, aws: Any, stack: ins.IngestStack, keys: list[str]) -> list[dict[str, Any]]:
    objects = [ins.put(aws, stack, key, ins.jpeg(640, 480)) for key in keys]
    assert ingest.handler(ins.event_for(objects, stack), ins.FakeContext()) == {"batchItemFailures": []}
    return objects


def test_batch_tasks_render_the_missing_rendition_and_report_each_task(
    ingest: Any, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = ins.create_stack(aws)
    stored = _stored(ingest, aws, stack, ["incoming/plus+sign.jpg", "incoming/ünïcødé-写真.jpg"])
    monkeypatch.setenv("PICOPS_INGEST__RENDITIONS", json.dumps(RENDITIONS))
    _env.reset()
    event = load_event("s3_batch_operations_2_0.json")
    event["tasks"][1]["s3VersionId"] = stored[1]["version"]  # one task names its version, the rest do not
    event["job"]["userArguments"] = {"renditions": "small"}
    # Through the function's own entry point, as a Batch Operations job invokes it.
    response = ingest.handler(event, ins.FakeContext())
    assert response["invocationSchemaVersion"] == "2.0"
    codes = [(r["taskId"], r["resultCode"], r["resultString"].split(":")[0]) for r in response["results"]]
    assert codes == [
        ("dGFza2lkZ29lc2hlcmUK", "Succeeded", "rendered"),
        ("dGFza2lkZ29lc2hlcmUL", "Succeeded", "rendered"),
        ("dGFza2lkZ29lc2hlcmUM", "Succeeded", "skipped"),  # never uploaded: no job
        ("dGFza2lkZ29lc2hlcmUN", "Succeeded", "skipped"),
    ]
    s3 = aws.client("s3")
    for obj in stored:
        small = s3.get_object(Bucket=stack.processed, Key=f"thumbnails/small/{obj['key']}.webp")
        assert max(ins.open_image(small["Body"].read()).size) == 96
        (job,) = ins.job_items(aws, stack, obj["key"])
        assert [r["name"] for r in job["renditions"]] == ["thumbnail", "small"]
    # Run again: every job is complete.
    again = ingest.batch_handler(event, ins.FakeContext())
    assert [r["resultString"].split(":")[0] for r in again["results"]][:2] == ["complete", "complete"]


def test_a_batch_job_naming_an_unknown_rendition_fails_every_task_permanently(
    ingest: Any, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = ins.create_stack(aws)
    (stored,) = _stored(ingest, aws, stack, ["incoming/with space.jpg"])
    event = load_event("s3_batch_operations_1_0.json")
    event["tasks"][0]["s3Key"] = quote_plus(stored["key"], safe="/")
    event["job"]["userArguments"] = {"renditions": "huge"}
    (result,) = ingest.batch_handler(event, ins.FakeContext())["results"]
    assert result["resultCode"] == "PermanentFailure"
    assert "huge" in result["resultString"]
