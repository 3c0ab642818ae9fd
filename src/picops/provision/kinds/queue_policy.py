"""AWS::SQS::QueuePolicy: who may send to a queue (S3 notifications, SNS, EventBridge), scoped to the
sender's ARN. On SQS it is the queue's `Policy` attribute."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from picops.provision.kinds._common import GONE, ignore_missing
from picops.provision.kinds.queue import queue_attributes, queue_url
from picops.stack.model import QueuePolicy, StackModel, canonical

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = QueuePolicy


def read(r: QueuePolicy, ctx: Context) -> dict[str, Any] | None:
    attrs = queue_attributes(r.name, r.queue, ctx)
    if attrs is None or not attrs.get("Policy"):
        return None
    return {"Policy": canonical(attrs["Policy"])}


def desired(r: QueuePolicy, ctx: Context) -> dict[str, Any]:
    return r.desired()


def apply(r: QueuePolicy, change: Change, ctx: Context) -> None:
    url = queue_url(r.queue, r.name, ctx)
    ctx.client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": r.document})


def delete(r: QueuePolicy, ctx: Context) -> None:
    url = ctx.fact(r.queue, "QueueUrl")
    if url:
        sqs = ctx.client("sqs")
        ignore_missing(lambda: sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""}), *GONE)


def render(r: QueuePolicy, model: StackModel) -> dict[str, Any]:
    return {"Queues": [{"Ref": r.queue}], "PolicyDocument": json.loads(r.document)}
