"""Key policies and log-bucket policies of the stack's security resources (docs/security.md), built from the
model's own grants so that who may publish to an encrypted topic never drifts from who the key lets encrypt.

SNS server-side encryption: a publisher needs `kms:GenerateDataKey` and `kms:Decrypt` on the topic's key,
through SNS, for that topic (SNS passes the topic ARN as the `aws:sns:topicArn` encryption context). The
key policy names each publisher's role ARN: a key policy naming a same-account principal is a grant by
itself, so the roles' own policies need no KMS statement (and the key's id, which KMS assigns, never has to be
known before the key exists). SQS subscribers need nothing: SNS decrypts before delivery, and the queues use
SQS-managed encryption.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# What SNS calls on the publisher's behalf for an encrypted topic.
SNS_KMS_ACTIONS: tuple[str, ...] = ("kms:Decrypt", "kms:GenerateDataKey")
# The account's administrators manage the key (policy, rotation, deletion) but cannot use it through this
# statement: using it is granted only to the publishers below.
KEY_ADMIN_ACTIONS: tuple[str, ...] = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)
TOPIC_CONTEXT_KEY = "kms:EncryptionContext:aws:sns:topicArn"
LOGGING_SERVICE = "logging.s3.amazonaws.com"
CLOUDWATCH_SERVICE = "cloudwatch.amazonaws.com"


@dataclass(frozen=True)
class TopicUsers:
    """Who publishes to one encrypted topic: role ARNs (functions, the stream mapping's on-failure path) and
    services (CloudWatch alarms, restricted to alarms whose ARN matches `alarm_arn_pattern`)."""

    topic: str
    topic_arn: str
    roles: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    alarm_arn_pattern: str = ""


def topic_key_policy(
    *, partition: str, account: str, region: str, topics: Sequence[TopicUsers]
) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "KeyAdministration",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
            "Action": sorted(KEY_ADMIN_ACTIONS),
            # In a key policy "*" is this key.
            "Resource": "*",
        }
    ]
    via_sns = f"sns.{region}.amazonaws.com"
    for users in topics:
        context = {TOPIC_CONTEXT_KEY: users.topic_arn}
        if users.roles:
            statements.append(
                {
                    "Sid": f"Publish{users.topic}",
                    "Effect": "Allow",
                    "Principal": {"AWS": sorted(users.roles)},
                    "Action": sorted(SNS_KMS_ACTIONS),
                    "Resource": "*",
                    "Condition": {"StringEquals": {"kms:ViaService": via_sns, **context}},
                }
            )
        for service in users.services:
            condition: dict[str, Any] = {"StringEquals": {"aws:SourceAccount": account}}
            if service == CLOUDWATCH_SERVICE and users.alarm_arn_pattern:
                condition["ArnLike"] = {"aws:SourceArn": users.alarm_arn_pattern}
            statements.append(
                {
                    "Sid": f"{service.split('.')[0].capitalize()}Publish{users.topic}",
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": sorted(SNS_KMS_ACTIONS),
                    "Resource": "*",
                    "Condition": condition,
                }
            )
    return {"Version": "2012-10-17", "Statement": statements}


def publishers(grants_by_role: Mapping[str, Sequence[Any]], topic_arn: str) -> tuple[str, ...]:
    """The role ARNs whose grants include sns:Publish on `topic_arn` (`grants_by_role`: ARN -> Grants)."""
    return tuple(
        sorted(
            role
            for role, grants in grants_by_role.items()
            if any("sns:Publish" in g.actions and topic_arn in g.resources for g in grants)
        )
    )


def log_bucket_policy(
    *, bucket_arn: str, source_bucket_arns: Sequence[str], account: str, tls_only: bool
) -> dict[str, Any]:
    """S3 server access logging writes with the logging service principal, for these source buckets only."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "S3ServerAccessLogsPolicy",
            "Effect": "Allow",
            "Principal": {"Service": LOGGING_SERVICE},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/*",
            "Condition": {
                "ArnLike": {"aws:SourceArn": sorted(source_bucket_arns)},
                "StringEquals": {"aws:SourceAccount": account},
            },
        }
    ]
    if tls_only:
        statements.append(
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def key_allows(policy: Mapping[str, Any], *, principal: str, service: bool, topic_arn: str) -> bool:
    """Whether a key policy lets `principal` (a role ARN, or a service when `service`) use the key for SNS
    encryption of `topic_arn`: both actions allowed, and any topic-context condition naming this topic."""
    for statement in policy.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        who = statement.get("Principal", {})
        names = who.get("Service" if service else "AWS", []) if isinstance(who, Mapping) else []
        names = [names] if isinstance(names, str) else list(names)
        if principal not in names:
            continue
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else list(actions)
        if not all(a in actions for a in SNS_KMS_ACTIONS):
            continue
        context = statement.get("Condition", {}).get("StringEquals", {}).get(TOPIC_CONTEXT_KEY)
        if context is not None and context != topic_arn:
            continue
        return True
    return False


__all__ = [
    "CLOUDWATCH_SERVICE",
    "KEY_ADMIN_ACTIONS",
    "SNS_KMS_ACTIONS",
    "TopicUsers",
    "key_allows",
    "log_bucket_policy",
    "publishers",
    "topic_key_policy",
]
