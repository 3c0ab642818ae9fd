"""AWS::SNS::Subscription: a queue subscribed to a topic with raw message delivery. SNS has no lookup by
endpoint, so it is found among the topic's subscriptions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picops.provision.kinds._common import GONE, describe_or_none, ignore_missing, paginated
from picops.stack.model import StackModel, Subscription

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = Subscription


def read(r: Subscription, ctx: Context) -> dict[str, Any] | None:
    sns = ctx.client("sns")
    listed = describe_or_none(
        lambda: paginated(sns, "list_subscriptions_by_topic", "Subscriptions", TopicArn=r.topic_arn)
    )
    for sub in listed or []:
        arn = sub["SubscriptionArn"]
        # A subscription still pending confirmation has no ARN yet ("PendingConfirmation").
        if sub["Protocol"] != "sqs" or sub["Endpoint"] != r.queue_arn or not arn.startswith("arn:"):
            continue
        attrs = _attributes(sns, arn)
        if attrs is None:
            return None
        ctx.remember(r.logical, SubscriptionArn=arn)
        return {
            "Protocol": "sqs",
            "Endpoint": sub["Endpoint"],
            "RawMessageDelivery": attrs.get("RawMessageDelivery", "false"),
        }
    return None


def _attributes(sns: Any, arn: str) -> dict[str, str] | None:
    found = describe_or_none(lambda: sns.get_subscription_attributes(SubscriptionArn=arn))
    return dict(found["Attributes"]) if found is not None else None


def desired(r: Subscription, ctx: Context) -> dict[str, Any]:
    return r.desired()


def apply(r: Subscription, change: Change, ctx: Context) -> None:
    sns = ctx.client("sns")
    raw = "true" if r.raw else "false"
    if change.action == "create":
        arn = sns.subscribe(
            TopicArn=r.topic_arn,
            Protocol="sqs",
            Endpoint=r.queue_arn,
            Attributes={"RawMessageDelivery": raw},
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        ctx.remember(r.logical, SubscriptionArn=arn)
        return
    sns.set_subscription_attributes(
        SubscriptionArn=ctx.fact(r.logical, "SubscriptionArn"),
        AttributeName="RawMessageDelivery",
        AttributeValue=raw,
    )


def delete(r: Subscription, ctx: Context) -> None:
    arn = ctx.fact(r.logical, "SubscriptionArn")
    if arn:
        sns = ctx.client("sns")
        ignore_missing(lambda: sns.unsubscribe(SubscriptionArn=arn), *GONE)


def render(r: Subscription, model: StackModel) -> dict[str, Any]:
    return {
        "TopicArn": {"Ref": r.topic},
        "Protocol": "sqs",
        "Endpoint": {"Fn::GetAtt": [r.queue, "Arn"]},
        "RawMessageDelivery": r.raw,
    }
