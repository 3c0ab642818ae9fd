"""AWS::SQS::Queue: SSE-SQS encryption, a redrive policy into its dead-letter queue, FIFO where ordering
matters. Its attributes are read once per run and shared with its queue policy (queue_policy)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picops.aws_errors import QUEUE_MISSING
from picops.provision.kinds._common import GONE, describe_or_none, ignore_missing
from picops.stack.model import Queue, QueuePolicy, StackModel, canonical

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = Queue

# Messages in flight count as what a queue holds, wherever they are in their life.
MESSAGE_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def queue_attributes(name: str, logical: str, ctx: Context) -> dict[str, str] | None:
    """All of a queue's attributes (None when it does not exist), read once per run."""
    cached = ctx.fact(logical, "Attributes")
    if cached is not None:
        return dict(cached)
    sqs = ctx.client("sqs")
    found = describe_or_none(lambda: sqs.get_queue_url(QueueName=name), QUEUE_MISSING)
    if found is None:
        return None
    url = found["QueueUrl"]
    attrs: dict[str, str] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    ctx.remember(logical, QueueUrl=url, Attributes=attrs)
    return dict(attrs)


def queue_url(logical: str, name: str, ctx: Context) -> str:
    url = ctx.fact(logical, "QueueUrl")
    if url:
        return str(url)
    found = str(ctx.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])
    ctx.remember(logical, QueueUrl=found)
    return found


def read(r: Queue, ctx: Context) -> dict[str, Any] | None:
    attrs = queue_attributes(r.name, r.logical, ctx)
    if attrs is None:
        return None
    live: dict[str, Any] = {key: attrs.get(key) for key in r.desired()}
    live["FifoQueue"] = attrs.get("FifoQueue", "false")
    if live.get("RedrivePolicy"):
        live["RedrivePolicy"] = canonical(live["RedrivePolicy"])
        # SQS may return maxReceiveCount as a string.
        policy = live["RedrivePolicy"]
        policy["maxReceiveCount"] = int(policy["maxReceiveCount"])
    if "SqsManagedSseEnabled" in live and live["SqsManagedSseEnabled"] is None:
        live["SqsManagedSseEnabled"] = "false"
    return live


def desired(r: Queue, ctx: Context) -> dict[str, Any]:
    return r.desired()


def apply(r: Queue, change: Change, ctx: Context) -> None:
    sqs = ctx.client("sqs")
    attrs = r.attributes()
    if change.action == "create":
        url = sqs.create_queue(QueueName=r.name, Attributes=attrs)["QueueUrl"]
        ctx.remember(r.logical, QueueUrl=url, Attributes=None)
        return
    update = {k: attrs.get(k, "") for k in change.diff if k != "FifoQueue"}
    policy = next((p for p in ctx.model.of_type(QueuePolicy) if p.queue == r.logical), None)
    if policy is not None:
        # Sent along so an emulator that resets unspecified attributes (moto drops the policy) keeps it;
        # on AWS it re-states the value the policy step would set anyway.
        update["Policy"] = policy.document
    sqs.set_queue_attributes(QueueUrl=queue_url(r.logical, r.name, ctx), Attributes=update)


def contents(r: Queue, ctx: Context) -> str:
    attrs = queue_attributes(r.name, r.logical, ctx) or {}
    count = sum(int(attrs.get(k, 0)) for k in MESSAGE_COUNTS)
    return f"holds about {count} messages" if count else ""


def delete(r: Queue, ctx: Context) -> None:
    url = ctx.fact(r.logical, "QueueUrl")
    if url:
        sqs = ctx.client("sqs")
        ignore_missing(lambda: sqs.delete_queue(QueueUrl=url), *GONE)


def render(r: Queue, model: StackModel) -> dict[str, Any]:
    props: dict[str, Any] = {
        "QueueName": r.name,
        "VisibilityTimeout": r.visibility_timeout_s,
        "MessageRetentionPeriod": r.retention_s,
        "SqsManagedSseEnabled": True,
    }
    if r.fifo:
        props.update(FifoQueue=True, ContentBasedDeduplication=True)
    if r.dlq:
        props["RedrivePolicy"] = {
            "deadLetterTargetArn": {"Fn::GetAtt": [r.dlq, "Arn"]},
            "maxReceiveCount": r.max_receive_count,
        }
    return props
