"""The moderation handlers' correlation ids (docs/operating.md, "Correlation ids"): every line the stream
and batch-task handlers write about an object carries its key, version and verdict, the sweeper logs each
object whose tag it wrote, and nothing is inherited by the next record's lines."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from picops.handlers import _env
from tests import tagging_support as ts
from tests.conftest import load_event
from tests.functional.test_moderation_handlers import FakeContext


@pytest.fixture
def handlers(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from picops.handlers import moderation

    monkeypatch.setenv("AWS_REGION", "us-east-1")
    _env.reset()
    yield moderation
    _env.reset()


@pytest.fixture
def written(handlers: Any, monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    out = io.StringIO()
    monkeypatch.setattr(handlers.logger.registered_handler, "stream", out)
    return out


def _lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


def _logged(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # EMF metric documents share the stream; they are not log lines.
    return [line for line in lines if "_aws" not in line]


def test_every_stream_line_names_its_object_and_verdict(
    handlers: Any, aws: Any, written: io.StringIO
) -> None:
    stack = ts.create_stack(aws)
    ts.put_objects(aws, stack.uploads_bucket, ["incoming/with space.jpg", "incoming/ünïcødé-写真.jpg"])
    event = load_event("dynamodb_stream_moderation.json")
    handlers.stream_handler(event, FakeContext())

    lines = _logged(_lines(written))
    by_key = {line["key"]: line for line in lines if line["message"] == "object processed"}
    assert by_key["incoming/with space.jpg"]["verdict"] == "approved"
    assert by_key["incoming/ünïcødé-写真.jpg"]["verdict"] == "rejected"
    assert by_key["incoming/with space.jpg"]["outcome"] == "tagged"
    # A REMOVE keeps the tag: its line names the object, and there is no verdict to name.
    (kept,) = [line for line in lines if line["message"] == "verdict removed; tag kept"]
    assert kept["key"] == "incoming/plus+sign.jpg"
    assert "verdict" not in kept
    # A warm container's next line does not inherit the last record's ids.
    handlers.logger.info("after the batch")
    last = _lines(written)[-1]
    assert not {"key", "version_id", "verdict"} & set(last)


def test_every_batch_task_line_names_its_object_version_and_verdict(
    handlers: Any, aws: Any, written: io.StringIO
) -> None:
    stack = ts.create_stack(aws)
    ts.put_objects(aws, stack.uploads_bucket, ["incoming/plus+sign.jpg"])
    ts.put_verdicts(aws, stack.moderation_table, {"incoming/plus+sign.jpg": "rejected"})
    event = load_event("s3_batch_operations_2_0.json")
    version = aws.client("s3").head_object(Bucket=stack.uploads_bucket, Key="incoming/plus+sign.jpg")
    event["tasks"] = [dict(event["tasks"][0], s3VersionId=version.get("VersionId") or "v-1")]
    handlers.batch_handler(event, FakeContext())

    (line,) = [
        line
        for line in _logged(_lines(written))
        if line["message"] in ("object processed", "object not tagged")
    ]
    assert (line["key"], line["verdict"]) == ("incoming/plus+sign.jpg", "rejected")
    assert line["version_id"] == event["tasks"][0]["s3VersionId"]
    assert line["task_id"] == event["tasks"][0]["taskId"]


def test_the_sweeper_logs_each_object_it_tagged_and_not_the_unchanged(
    handlers: Any, aws: Any, written: io.StringIO
) -> None:
    stack = ts.create_stack(aws)
    keys = [f"incoming/s{i}.jpg" for i in range(6)]
    ts.put_objects(aws, stack.uploads_bucket, keys)
    ts.put_verdicts(aws, stack.moderation_table, {keys[0]: "approved", keys[3]: "rejected"})
    handlers.sweep_handler(load_event("eventbridge_scheduled.json"), FakeContext())

    lines = _logged(_lines(written))
    tagged = {line["key"]: line["verdict"] for line in lines if line["message"] == "object processed"}
    assert tagged == {keys[0]: "approved", keys[3]: "rejected"}
    (summary,) = [line for line in lines if line["message"] == "sweep finished"]
    assert summary["tagged"] == 2
    assert "key" not in summary
