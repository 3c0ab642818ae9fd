"""IAM policies generated from the model: each function's role may do exactly what its code does, on exactly
the resources it touches.

Grants name concrete ARNs built from the stack's physical names. The only `*` that may appear is inside an ARN
after a concrete resource name (objects of one bucket, streams of one table, log streams of one log group),
plus the actions in `WILDCARD_ONLY_ACTIONS`, which AWS authorises only on `Resource: "*"`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Actions AWS supports only with Resource "*" (no resource-level permissions). Kept short and explicit: the
# IAM test fails on any other wildcard. X-Ray's segment upload is the one a Lambda would need (active
# tracing).
WILDCARD_ONLY_ACTIONS: frozenset[str] = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})

SQS_CONSUME = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
)
STREAM_READ = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
)
TAGGING = (
    "s3:GetObjectTagging",
    "s3:PutObjectTagging",
    "s3:GetObjectVersionTagging",
    "s3:PutObjectVersionTagging",
)
BOOKINGS_RW = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:Query",
    "dynamodb:ConditionCheckItem",
)


@dataclass(frozen=True)
class Grant:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    def statement(self) -> dict[str, Any]:
        return {
            "Sid": self.sid,
            "Effect": "Allow",
            "Action": sorted(self.actions),
            "Resource": sorted(self.resources),
        }


@dataclass(frozen=True)
class StackArns:
    """The ARNs a policy can name (from `StackNames`, so no AWS call is needed)."""

    uploads_bucket: str
    processed_bucket: str
    ingest_queue: str
    inventory_queue: str
    payment_queue: str
    jobs_table: str
    moderation_table: str
    bookings_table: str
    notify_topic: str
    booking_topic: str
    alerts_topic: str
    log_group: dict[str, str]


def function_grants(function: str, arns: StackArns, *, uploads_prefix: str) -> list[Grant]:
    """What `function`'s code does (see the handler modules named in `picops.stack.model.HANDLERS`)."""
    # Lambda writes its own logs; the log group is created by provision, so CreateLogGroup is not granted.
    grants = [
        Grant("Logs", ("logs:CreateLogStream", "logs:PutLogEvents"), (f"{arns.log_group[function]}:*",)),
    ]
    if function == "IngestFunction":
        grants += [
            Grant("ConsumeIngestQueue", SQS_CONSUME, (arns.ingest_queue,)),
            Grant(
                "ReadUploads",
                ("s3:GetObject", "s3:GetObjectTagging"),
                (f"{arns.uploads_bucket}/{uploads_prefix}*",),
            ),
            Grant("WriteProcessed", ("s3:PutObject",), (f"{arns.processed_bucket}/*",)),
            Grant(
                "RecordJobs",
                ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"),
                (arns.jobs_table,),
            ),
            Grant("Notify", ("sns:Publish",), (arns.notify_topic,)),
        ]
    elif function == "ModerationStreamFunction":
        grants += [
            Grant("ReadVerdictStream", STREAM_READ, (f"{arns.moderation_table}/stream/*",)),
            Grant("ReadVerdicts", ("dynamodb:GetItem", "dynamodb:BatchGetItem"), (arns.moderation_table,)),
            Grant("TagUploads", TAGGING, (f"{arns.uploads_bucket}/*",)),
            # The mapping's on-failure destination is sent with the function's role.
            Grant("OnFailureDestination", ("sns:Publish",), (arns.alerts_topic,)),
        ]
    elif function == "ModerationSweepFunction":
        grants += [
            Grant("ListUploads", ("s3:ListBucket", "s3:ListBucketVersions"), (arns.uploads_bucket,)),
            Grant("TagUploads", TAGGING, (f"{arns.uploads_bucket}/*",)),
            Grant(
                "ReadVerdicts",
                ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Scan"),
                (arns.moderation_table,),
            ),
        ]
    elif function == "BookingApiFunction":
        grants += [
            Grant("Bookings", BOOKINGS_RW, (arns.bookings_table,)),
            Grant("PublishBookings", ("sns:Publish",), (arns.booking_topic,)),
        ]
    elif function == "InventoryFunction":
        grants += [
            Grant("ConsumeInventoryQueue", SQS_CONSUME, (arns.inventory_queue,)),
            Grant("Bookings", BOOKINGS_RW, (arns.bookings_table,)),
        ]
    elif function == "PaymentFunction":
        grants += [
            Grant("ConsumePaymentQueue", SQS_CONSUME, (arns.payment_queue,)),
            Grant("Bookings", BOOKINGS_RW, (arns.bookings_table,)),
            Grant("Notify", ("sns:Publish",), (arns.notify_topic,)),
        ]
    else:
        raise KeyError(f"no IAM grants defined for {function!r}")
    return grants


def policy_document(grants: list[Grant]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [g.statement() for g in grants]}


def wildcard_violations(document: dict[str, Any]) -> list[str]:
    """Every `*` in a policy that is not allowed: used by the tests and by preflight."""
    problems: list[str] = []
    for statement in document.get("Statement", []):
        actions = statement.get("Action", [])
        resources = statement.get("Resource", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        only_wildcard_actions = all(a in WILDCARD_ONLY_ACTIONS for a in actions)
        for action in actions:
            if "*" in action:
                problems.append(f"{statement.get('Sid')}: wildcard action {action}")
        for resource in resources:
            if resource == "*":
                if not only_wildcard_actions:
                    problems.append(f"{statement.get('Sid')}: Resource * with {actions}")
                continue
            if not _scoped(resource):
                problems.append(f"{statement.get('Sid')}: unscoped resource {resource}")
    return problems


def _scoped(arn: str) -> bool:
    """A `*` may only end an ARN whose resource part already names a concrete resource (`bucket/prefix*`,
    `table/NAME/stream/*`, `log-group:NAME:*`); never in the service, region or account, never mid-ARN."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn" or "*" in ":".join(parts[:5]):
        return False
    resource = parts[5]
    if "*" not in resource:
        return True
    if resource.count("*") > 1 or not resource.endswith("*"):
        return False
    concrete = _TYPE_MARKER.sub("", resource[:-1]).strip("/:")
    return bool(concrete)


_TYPE_MARKER = re.compile(r"^(table|log-group|function|rule|stream)[:/]")
