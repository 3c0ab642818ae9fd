"""Wiring preflight: each rule catches its mistake, and the default stack passes."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from picops.config import load_settings
from picops.errors import ConfigError
from picops.provision.preflight import check_model, notification_overlaps, preflight_model
from picops.stack.build import build_model
from picops.stack.model import BucketNotification, Queue, QueuePolicy, Resource, StackModel

ACCOUNT, REGION = "123456789012", "us-east-1"


def _model(**sections: dict[str, Any]) -> StackModel:
    return build_model(load_settings(overrides=sections, use_files=False), ACCOUNT, REGION)


def _swap(model: StackModel, replacement: Resource) -> StackModel:
    resources = tuple(replacement if r.logical == replacement.logical else r for r in model)
    return StackModel(model.stack, model.account, model.region, model.local, resources)


def test_default_stack_passes() -> None:
    assert check_model(_model()) == []
    preflight_model(_model())


def test_fifo_topic_needs_fifo_queues() -> None:
    model = _model()
    queue = model.get("InventoryQueue")
    assert isinstance(queue, Queue)
    problems = check_model(_swap(model, dataclasses.replace(queue, fifo=False)))
    assert any("InventoryQueueSubscription" in p and "FIFO topic" in p for p in problems)
    assert any("dead-letter queue" in p for p in problems)


def test_visibility_must_cover_six_function_timeouts() -> None:
    model = _model(deploy={"timeout_s": 60})
    queue = model.get("IngestQueue")
    assert isinstance(queue, Queue)
    assert queue.visibility_timeout_s == 360
    problems = check_model(_swap(model, dataclasses.replace(queue, visibility_timeout_s=300)))
    assert problems == [p for p in problems if "IngestQueue: visibility timeout 300s" in p]
    assert len(problems) == 1


def test_s3_needs_permission_to_send_to_the_queue() -> None:
    model = _model()
    policy = model.get("IngestQueuePolicy")
    assert isinstance(policy, QueuePolicy)
    document = json.loads(policy.document)
    document["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"] = "arn:aws:s3:::someone-else"
    problems = check_model(_swap(model, dataclasses.replace(policy, document=json.dumps(document))))
    assert len(problems) == 1
    assert "does not let s3.amazonaws.com send" in problems[0]


@pytest.mark.parametrize(
    ("suffixes", "overlapping"),
    [
        ((".jpg", "photo.jpg"), True),
        ((".jpg", ".jpg"), True),
        ((".jpg", ".jpeg", ".JPG"), False),
    ],
)
def test_overlapping_suffix_rules(suffixes: tuple[str, ...], overlapping: bool) -> None:
    problems = check_model(_model(ingest={"suffixes": suffixes}))
    assert bool([p for p in problems if "overlap" in p]) is overlapping


def test_overlap_with_another_tools_rule_on_the_bucket() -> None:
    notification = _model().get("UploadsBucketNotification")
    assert isinstance(notification, BucketNotification)
    theirs = {"Id": "thumbs", "Prefix": "incoming/raw/", "Suffix": "", "Events": ["s3:ObjectCreated:Put"]}
    elsewhere = {"Id": "logs", "Prefix": "logs/", "Suffix": "", "Events": ["s3:ObjectCreated:*"]}
    removal = {"Id": "gone", "Prefix": "", "Suffix": "", "Events": ["s3:ObjectRemoved:*"]}
    problems = notification_overlaps(notification, [theirs, elsewhere, removal])
    assert problems
    assert all("another tool" in p for p in problems)
    # Ingest listens for ObjectRemoved:* too (derived images follow their original): a removal rule on the
    # same keys overlaps as a creation rule does; a rule on other keys never does.
    assert any("thumbs" in p for p in problems)
    assert any("gone" in p for p in problems)
    assert not any("logs" in p for p in problems)


def test_processed_bucket_must_differ_from_uploads() -> None:
    model = _model(ingest={"uploads_bucket": "photos", "processed_bucket": "photos"})
    with pytest.raises(ConfigError, match="ProcessedBucket and UploadsBucket are the same bucket"):
        preflight_model(model)
