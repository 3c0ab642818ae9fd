"""AWS::SNS::Topic: the alerts topic (encrypted with the stack's key) and the FIFO fan-out topics. Its ARN
is derived from its name, so it is never looked up."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picops.provision.kinds._common import describe_or_none
from picops.stack.model import StackModel, Topic

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = Topic


def read(r: Topic, ctx: Context) -> dict[str, Any] | None:
    arn = ctx.names.arn(r.logical)
    sns = ctx.client("sns")
    found = describe_or_none(lambda: sns.get_topic_attributes(TopicArn=arn))
    if found is None:
        return None
    attrs = found["Attributes"]
    ctx.remember(r.logical, TopicArn=arn)
    live = {"FifoTopic": attrs.get("FifoTopic", "false")}
    if r.fifo:
        live["ContentBasedDeduplication"] = attrs.get("ContentBasedDeduplication", "false")
    if r.kms_key:
        live["KmsMasterKeyId"] = attrs.get("KmsMasterKeyId", "")
    return live


def desired(r: Topic, ctx: Context) -> dict[str, Any]:
    return r.desired()


def apply(r: Topic, change: Change, ctx: Context) -> None:
    sns = ctx.client("sns")
    if change.action == "create":
        sns.create_topic(Name=r.name, Attributes=r.attributes())
        return
    arn = ctx.names.arn(r.logical)
    # FifoTopic never changes in place (a replace_field): the rest is one attribute per call.
    for key in change.diff:
        if key != "FifoTopic":
            sns.set_topic_attributes(TopicArn=arn, AttributeName=key, AttributeValue=r.attributes()[key])


def delete(r: Topic, ctx: Context) -> None:
    # DeleteTopic answers success for a topic that does not exist.
    ctx.client("sns").delete_topic(TopicArn=ctx.names.arn(r.logical))


def render(r: Topic, model: StackModel) -> dict[str, Any]:
    props: dict[str, Any] = {"TopicName": r.name}
    if r.fifo:
        props.update(FifoTopic=True, ContentBasedDeduplication=True)
    if r.kms_key:
        props["KmsMasterKeyId"] = {"Ref": r.kms_key}
    return props
