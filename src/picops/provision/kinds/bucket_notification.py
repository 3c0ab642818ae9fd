"""S3 event notifications of one bucket into a queue. picops owns only the configurations whose id starts
with `picops-`; other tools' configurations are kept on every update and checked for overlap by preflight.
In the export they are the bucket's NotificationConfiguration, not a resource of their own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picops.aws_errors import BUCKET_MISSING
from picops.provision.kinds._common import describe_or_none
from picops.provision.propagation import wait_for_propagation
from picops.stack.model import BucketNotification, StackModel

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = BucketNotification

# Bucket notification ids picops owns; other configurations on the bucket are left alone.
NOTIFICATION_ID_PREFIX = "picops-"


def _filter_rules(item: dict[str, Any]) -> dict[str, str]:
    return {
        rule["Name"].lower(): rule["Value"]
        for rule in item.get("Filter", {}).get("Key", {}).get("FilterRules", [])
    }


def _entry(item: dict[str, Any]) -> dict[str, Any]:
    rules = _filter_rules(item)
    return {
        "Id": item.get("Id", ""),
        "Events": sorted(item.get("Events", [])),
        "Prefix": rules.get("prefix", ""),
        "Suffix": rules.get("suffix", ""),
    }


def read(r: BucketNotification, ctx: Context) -> dict[str, Any] | None:
    s3 = ctx.client("s3")
    config = describe_or_none(lambda: s3.get_bucket_notification_configuration(Bucket=r.name), BUCKET_MISSING)
    if config is None:
        return None
    ours: list[dict[str, Any]] = []
    foreign: list[dict[str, Any]] = []
    for item in config.get("QueueConfigurations", []):
        entry = _entry(item)
        entry = {
            "Id": entry["Id"],
            "QueueArn": item["QueueArn"],
            **{k: v for k, v in entry.items() if k != "Id"},
        }
        (ours if entry["Id"].startswith(NOTIFICATION_ID_PREFIX) else foreign).append(entry)
    for kind in ("TopicConfigurations", "LambdaFunctionConfigurations"):
        foreign.extend(_entry(item) for item in config.get(kind, []))
    # Other tools' configurations are kept on update and checked for overlap by preflight.
    ctx.remember(r.logical, Foreign=foreign)
    if not ours:
        return None
    return {"QueueConfigurations": sorted(ours, key=lambda c: str(c["Id"]))}


def desired(r: BucketNotification, ctx: Context) -> dict[str, Any]:
    return r.desired()


def _foreign_config(s3: Any, bucket: str) -> dict[str, Any]:
    """The bucket's notification configuration without picops's own queue configurations."""
    current = s3.get_bucket_notification_configuration(Bucket=bucket)
    current.pop("ResponseMetadata", None)
    current["QueueConfigurations"] = [
        c
        for c in current.get("QueueConfigurations", [])
        if not str(c.get("Id", "")).startswith(NOTIFICATION_ID_PREFIX)
    ]
    return dict(current)


def _key_filter(prefix: str, suffix: str) -> list[dict[str, str]]:
    # An empty prefix means "any key": S3 wants the rule left out, not given an empty value.
    return [
        {"Name": name, "Value": value} for name, value in (("prefix", prefix), ("suffix", suffix)) if value
    ]


def apply(r: BucketNotification, change: Change, ctx: Context) -> None:
    s3 = ctx.client("s3")
    # PutBucketNotificationConfiguration replaces everything: keep other tools' configurations.
    config = _foreign_config(s3, r.name)
    kept = config.pop("QueueConfigurations")
    ours = [
        {
            "Id": c.id,
            "QueueArn": c.queue_arn,
            "Events": list(c.events),
            "Filter": {"Key": {"FilterRules": _key_filter(c.prefix, c.suffix)}},
        }
        for c in r.configurations
    ]
    config["QueueConfigurations"] = kept + ours
    wait_for_propagation(
        lambda: s3.put_bucket_notification_configuration(Bucket=r.name, NotificationConfiguration=config)
    )


def delete(r: BucketNotification, ctx: Context) -> None:
    s3 = ctx.client("s3")
    s3.put_bucket_notification_configuration(
        Bucket=r.name, NotificationConfiguration=_foreign_config(s3, r.name)
    )


def notification_configuration(r: BucketNotification) -> dict[str, Any]:
    """The bucket's NotificationConfiguration property in the export (the bucket kind folds it in)."""
    return {
        "QueueConfigurations": [
            {
                "Event": event,
                "Queue": c.queue_arn,
                "Filter": {"S3Key": {"Rules": _key_filter(c.prefix, c.suffix)}},
            }
            for c in r.configurations
            for event in c.events
        ]
    }


def render(r: BucketNotification, model: StackModel) -> None:
    """No resource of its own: folded into its bucket (see `template_depends`)."""
    return


def template_depends(r: BucketNotification) -> dict[str, set[str]]:
    """The bucket carrying the configuration waits for the queue and its policy, as this resource would."""
    return {r.bucket: {r.queue, r.queue_policy}}
