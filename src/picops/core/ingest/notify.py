"""Notifications on NotifyTopic: one per object version, a JSON body and filterable attributes.

Subscribers filter on the message attributes `status` (processed | failed) and `kind` (image | json). SNS
drops raw-delivered messages with more than 10 attributes, so there are exactly three (with `bucket`).
"""

from __future__ import annotations

import json
from typing import Any

from picops.core.ingest.jobs import Job

MAX_ATTRIBUTES = 10


def notification(job: Job) -> tuple[str, dict[str, dict[str, str]]]:
    """The message body and attributes for a finished job."""
    status = job.status.lower()
    body: dict[str, Any] = {
        "bucket": job.bucket,
        "key": job.key,
        "version": job.version,
        "etag": job.etag,
        "status": status,
        "kind": job.kind,
        "attempts": job.attempts,
        "finished_at": job.finished_at,
    }
    if job.status == "PROCESSED":
        body["outputs"] = job.outputs
        if job.renditions is not None:
            body["renditions"] = job.renditions
    else:
        body["reason"] = job.reason
    attributes = {
        "status": {"DataType": "String", "StringValue": status},
        "kind": {"DataType": "String", "StringValue": job.kind or "unknown"},
        "bucket": {"DataType": "String", "StringValue": job.bucket},
    }
    assert len(attributes) <= MAX_ATTRIBUTES
    return json.dumps(body, sort_keys=True, ensure_ascii=False), attributes


def publish(sns: Any, topic_arn: str, job: Job) -> str:
    message, attributes = notification(job)
    response = sns.publish(TopicArn=topic_arn, Message=message, MessageAttributes=attributes)
    return str(response.get("MessageId", ""))
