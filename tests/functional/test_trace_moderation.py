"""`picops trace object`'s moderation part against in-process moto: the verdict in ModerationTable, the tag
the batch task wrote (its tag-ledger record, on the timeline) and a tag that is not the verdict."""

from __future__ import annotations

from typing import Any

import pytest

from picops.config import load_settings
from picops.core.ingest.jobs import PROCESSED, Job, JobStore
from picops.core.tagging.verdicts import VerdictLookup
from picops.core.trace.objects import moderation_of, object_verdict, trace_object
from picops.handlers import _env
from tests import tagging_support as ts
from tests.conftest import load_event
from tests.functional.test_moderation_handlers import FakeContext

KEY = "incoming/plus+sign.jpg"


@pytest.fixture
def handlers(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from picops.handlers import moderation

    monkeypatch.setenv("AWS_REGION", "us-east-1")
    _env.reset()
    yield moderation
    _env.reset()


def _lookup(aws: Any, table: str) -> VerdictLookup:
    conf = load_settings(use_files=False).moderation
    return VerdictLookup(
        aws.client("dynamodb"),
        table,
        key_attribute=conf.key_attribute,
        status_attribute=conf.status_attribute,
    )


def test_the_batch_task_s_tag_write_and_the_verdict_are_in_the_trace(handlers: Any, aws: Any) -> None:
    stack = ts.create_stack(aws, versioned=True)
    ts.put_objects(aws, stack.uploads_bucket, [KEY])
    ts.put_verdicts(aws, stack.moderation_table, {KEY: "rejected"})
    event = load_event("s3_batch_operations_2_0.json")
    event["tasks"] = event["tasks"][:1]
    handlers.batch_handler(event, FakeContext())

    jobs = JobStore(aws.client("dynamodb"), stack.jobs_table)
    moderation = moderation_of(_lookup(aws, stack.moderation_table), jobs, stack.uploads_bucket, KEY)
    assert moderation.verdict == "rejected"
    assert moderation.gaps == []
    timeline = trace_object(
        aws.client("s3"), jobs, stack.uploads_bucket, KEY, tag_key=ts.TAG_KEY, moderation=moderation
    )
    assert timeline.state["moderation_verdict"] == "rejected"
    assert timeline.state["tags"] == {ts.TAG_KEY: "rejected"}
    (write,) = [e for e in timeline.ordered() if e.what.startswith("tag ")]
    assert write.source == "JobsTable"
    assert write.what == f"tag {ts.TAG_KEY}=rejected written or confirmed by an S3 Batch Operations task"
    assert write.at_ms > 0


def test_an_unreadable_moderation_table_is_a_gap_not_a_failed_trace(aws: Any) -> None:
    stack = ts.create_stack(aws)
    jobs = JobStore(aws.client("dynamodb"), stack.jobs_table)
    moderation = moderation_of(_lookup(aws, "no-such-table"), jobs, stack.uploads_bucket, KEY)
    assert moderation.verdict is None
    assert moderation.gaps == ["ModerationTable no-such-table: verdict not read (ResourceNotFoundException)"]


def _processed() -> Job:
    return Job(
        "b",
        KEY,
        "V#1",
        PROCESSED,
        "image",
        "1",
        None,
        10,
        {},
        None,
        1,
        None,
        None,
        None,
        None,
        None,
        None,
        [],
    )


def test_the_verdict_line_says_when_the_tag_is_not_the_moderation_verdict() -> None:
    tag = {ts.TAG_KEY: "approved"}
    assert object_verdict([_processed()], tag, ts.TAG_KEY, "approved") == (
        f"processed: 0 renditions; tagged {ts.TAG_KEY}=approved",
        True,
    )
    assert object_verdict([_processed()], tag, ts.TAG_KEY, "rejected") == (
        f"processed: 0 renditions; tagged {ts.TAG_KEY}=approved (moderation verdict: rejected)",
        True,
    )
    assert object_verdict([_processed()], {}, ts.TAG_KEY, "rejected")[0].endswith(
        "not tagged yet (moderation verdict: rejected)"
    )
