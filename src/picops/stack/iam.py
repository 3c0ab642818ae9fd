"""IAM policies generated from the model: each function's role may do exactly what its code does, on exactly
the resources it touches.

Grants name concrete ARNs built from the stack's physical names. The only `*` that may appear is inside an ARN
after a concrete resource name (objects of one bucket, streams of one table, log streams of one log group),
plus the actions in `WILDCARD_ONLY_ACTIONS`, which AWS authorises only on `Resource: "*"`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from picops.stack.state_objects import BATCH_REPORT_PREFIX as REPORT_PREFIX
from picops.stack.state_objects import INGEST_OUTPUT_PREFIX, LEDGER_KEY_PREFIX, SWEEP_STATE_KEY

# Actions AWS supports only with Resource "*" (no resource-level permissions). Kept short and explicit: the
# IAM test fails on any other wildcard. X-Ray's segment upload is the one a Lambda would need (active
# tracing). dynamodb:ListStreams is the documented exception the stream mapping needs: Lambda's poller
# lists the table's streams with the function's role, and the action authorises only `*` (granted on the
# stream ARN, as it once was here, it allows nothing; parliament reports RESOURCE_MISMATCH).
WILDCARD_ONLY_ACTIONS: frozenset[str] = frozenset(
    {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "dynamodb:ListStreams"}
)

# What Lambda's SQS poller needs of the function's role (AWSLambdaSQSQueueExecutionRole's actions). A
# function that fails a message leaves its visibility to the queue: no ChangeMessageVisibility.
SQS_CONSUME = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
)
STREAM_READ = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
)
# No resource-level permissions: only `Resource: "*"` (see WILDCARD_ONLY_ACTIONS).
STREAM_LIST = ("dynamodb:ListStreams",)
# Tagging the current version of an object (no VersionId in the request) is authorised by these two alone,
# on a versioned bucket too; naming a version additionally needs the `...VersionTagging` pair.
TAGGING_CURRENT = ("s3:GetObjectTagging", "s3:PutObjectTagging")
TAGGING_VERSIONS = (*TAGGING_CURRENT, "s3:GetObjectVersionTagging", "s3:PutObjectVersionTagging")
# What each bookings handler does on BookingsTable (picops.core.bookings.store / payments). TransactWriteItems
# has no action of its own: each of its items is authorised as the PutItem/UpdateItem it is.
BOOKINGS_API_TABLE = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query")
BOOKINGS_INVENTORY_TABLE = ("dynamodb:Query", "dynamodb:UpdateItem")
# The simulated gateway's ledger (PutItem) lives in BookingsTable too.
BOOKINGS_PAYMENT_TABLE = ("dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:PutItem")


# The tag ledger's items in JobsTable (picops.core.tagging.ledger): the taggers may touch only items whose
# partition key starts with LEDGER_KEY_PREFIX, never the ingest pipeline's job items and records.
LEDGER_ONLY: dict[str, Any] = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{LEDGER_KEY_PREFIX}*"]}}


@dataclass(frozen=True)
class Grant:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: dict[str, Any] | None = None

    def statement(self) -> dict[str, Any]:
        statement: dict[str, Any] = {
            "Sid": self.sid,
            "Effect": "Allow",
            "Action": sorted(self.actions),
            "Resource": sorted(self.resources),
        }
        if self.condition:
            statement["Condition"] = self.condition
        return statement


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
    sweep_dlq: str
    # Each DLQ `[dlq.<Logical>]` redrives on a schedule: (its ARN, its source queue's, its alarm's).
    redrive: tuple[tuple[str, str, str], ...] = ()


# Active tracing: the Lambda service uploads the function's segments with its role (`*` only).
TRACING = Grant("Tracing", ("xray:PutTraceSegments", "xray:PutTelemetryRecords"), ("*",))


def function_grants(
    function: str, arns: StackArns, *, uploads_prefix: str, tracing: bool = False
) -> list[Grant]:
    """What `function`'s code does (its handler is picops.functions.FUNCTIONS' entry point)."""
    try:
        own = FUNCTION_GRANTS[function]
    except KeyError:
        raise KeyError(f"no IAM grants defined for {function!r}") from None
    # Lambda writes its own logs; the log group is created by provision, so CreateLogGroup is not granted.
    logs = Grant("Logs", ("logs:CreateLogStream", "logs:PutLogEvents"), (f"{arns.log_group[function]}:*",))
    return [logs, *own(arns, uploads_prefix), *([TRACING] if tracing else [])]


def _ingest(arns: StackArns, uploads_prefix: str) -> list[Grant]:
    return [
        Grant("ConsumeIngestQueue", SQS_CONSUME, (arns.ingest_queue,)),
        # The notified version (GetObject with VersionId needs GetObjectVersion too).
        Grant(
            "ReadUploads",
            ("s3:GetObject", "s3:GetObjectVersion"),
            (f"{arns.uploads_bucket}/{uploads_prefix}*",),
        ),
        # Not for listing: without it S3 answers a GET of a deleted object 403 AccessDenied (retried into
        # IngestDLQ) instead of 404, and it checks this grant with the object key as s3:prefix.
        Grant(
            "MissingUploadsAre404",
            ("s3:ListBucket",),
            (arns.uploads_bucket,),
            {"StringLike": {"s3:prefix": [f"{uploads_prefix}*"]}},
        ),
        # Thumbnails only (picops.core.ingest.pipeline.THUMBNAIL_PREFIX); never UploadsBucket.
        Grant("WriteProcessed", ("s3:PutObject",), (f"{arns.processed_bucket}/{INGEST_OUTPUT_PREFIX}*",)),
        # A deleted original's renditions: HeadObject (s3:GetObject) reads which version made one, and only
        # that version's are deleted; renditions only, never UploadsBucket.
        Grant(
            "RemoveDerived",
            ("s3:GetObject", "s3:DeleteObject"),
            (f"{arns.processed_bucket}/{INGEST_OUTPUT_PREFIX}*",),
        ),
        # The version a delete marker hides, listed under the ingest prefix only.
        Grant(
            "FindHiddenVersion",
            ("s3:ListBucketVersions",),
            (arns.uploads_bucket,),
            {"StringLike": {"s3:prefix": [f"{uploads_prefix}*"]}},
        ),
        # Claims and job records (UpdateItem), the failure index (PutItem), the claim's read-back
        # (GetItem), JSON drop records (BatchWriteItem; DeleteItem, conditional on the record's source, when
        # its original is deleted).
        Grant(
            "RecordJobs",
            (
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:BatchWriteItem",
                "dynamodb:DeleteItem",
            ),
            (arns.jobs_table,),
        ),
        Grant("Notify", ("sns:Publish",), (arns.notify_topic,)),
    ]


def _moderation_stream(arns: StackArns, uploads_prefix: str) -> list[Grant]:
    # The verdict arrives in the record's NewImage: no table read. The handler tags (or, with
    # `on_remove = "remove"`, rewrites without the moderation tag: PutObjectTagging too) the object's
    # current version, never a named one.
    return [
        # Read by the Lambda service for the event source mapping, with the function's role.
        Grant("ReadVerdictStream", STREAM_READ, (f"{arns.moderation_table}/stream/*",)),
        Grant("ListVerdictStreams", STREAM_LIST, ("*",)),
        Grant("TagUploads", TAGGING_CURRENT, (f"{arns.uploads_bucket}/*",)),
        # A tag it changes loses its tag-ledger entry (DeleteRequest), ledger items only.
        Grant("ForgetLedgerEntries", ("dynamodb:BatchWriteItem",), (arns.jobs_table,), LEDGER_ONLY),
        # The mapping's on-failure destination is sent with the function's role.
        Grant("OnFailureDestination", ("sns:Publish",), (arns.alerts_topic,)),
    ]


def _moderation_sweep(arns: StackArns, uploads_prefix: str) -> list[Grant]:
    # The hourly sweep (ListObjectsV2, BatchGetItem, tagging) and, through the same handler, S3 Batch
    # Operations tasks, which may name object versions.
    return [
        Grant("ListUploads", ("s3:ListBucket",), (arns.uploads_bucket,)),
        Grant("TagUploads", TAGGING_VERSIONS, (f"{arns.uploads_bucket}/*",)),
        Grant("ReadVerdicts", ("dynamodb:BatchGetItem",), (arns.moderation_table,)),
        # The tag ledger in JobsTable: read entries per chunk, write them in batches; ledger items only.
        Grant(
            "TagLedger",
            ("dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"),
            (arns.jobs_table,),
            LEDGER_ONLY,
        ),
        # Batch Operations tasks carry no ETag: the object's identity for the ledger. AWS authorises
        # GetObjectAttributes only with s3:GetObject as well (s3:GetObjectVersion with
        # s3:GetObjectVersionAttributes when a version is named), so both pairs are granted.
        Grant(
            "IdentifyUploads",
            (
                "s3:GetObject",
                "s3:GetObjectAttributes",
                "s3:GetObjectVersion",
                "s3:GetObjectVersionAttributes",
            ),
            (f"{arns.uploads_bucket}/*",),
        ),
        # The continuation point, one object. (A missing one reads as 404 rather than 403 because
        # ListBucket is granted above.)
        # (Reading it back is IdentifyUploads' s3:GetObject on every upload.)
        Grant("SweepCheckpoint", ("s3:PutObject",), (f"{arns.uploads_bucket}/{SWEEP_STATE_KEY}",)),
        # The async invoke config's on-failure destination: Lambda sends the record with this role.
        Grant("OnFailureDestination", ("sqs:SendMessage",), (arns.sweep_dlq,)),
    ]


def _booking_api(arns: StackArns, uploads_prefix: str) -> list[Grant]:
    # Accept (read the seat, one transaction: seat + line entry + pointer), publish, confirm the publish;
    # describe (pointer, the seat's item collection, the booking's ledger).
    return [
        Grant("Bookings", BOOKINGS_API_TABLE, (arns.bookings_table,)),
        Grant("PublishBookings", ("sns:Publish",), (arns.booking_topic,)),
    ]


def _inventory(arns: StackArns, uploads_prefix: str) -> list[Grant]:
    # advance(seat): read the seat's item collection, one conditional update of the seat.
    return [
        Grant("ConsumeInventoryQueue", SQS_CONSUME, (arns.inventory_queue,)),
        Grant("Bookings", BOOKINGS_INVENTORY_TABLE, (arns.bookings_table,)),
    ]


def _payment(arns: StackArns, uploads_prefix: str) -> list[Grant]:
    # settle(seat): advance, conditional seat updates, the decline transaction, the gateway's ledger.
    return [
        Grant("ConsumePaymentQueue", SQS_CONSUME, (arns.payment_queue,)),
        Grant("Bookings", BOOKINGS_PAYMENT_TABLE, (arns.bookings_table,)),
    ]


def _outbox_sweep(arns: StackArns, uploads_prefix: str) -> list[Grant]:
    # republish_pending: scan for pointers still carrying `outbox_at`, publish each, clear its marker
    # (UpdateItem REMOVE outbox_at); nothing else of the table, no queue, no other topic.
    return [
        Grant("FindUnpublished", ("dynamodb:Scan",), (arns.bookings_table,)),
        Grant("ConfirmPublished", ("dynamodb:UpdateItem",), (arns.bookings_table,)),
        Grant("PublishBookings", ("sns:Publish",), (arns.booking_topic,)),
    ]


def _dlq_redrive(arns: StackArns, uploads_prefix: str) -> list[Grant]:
    # `picops dlq redrive`'s mover (receive, hold, delete what the send confirmed) on the DLQs, a send to each
    # one's source, its marks as DLQ tags, and the DLQ's alarm read to see whether it fired again. Only the
    # DLQs with a schedule: with none, the function may write its logs and nothing else.
    if not arns.redrive:
        return []
    dlqs = tuple(d for d, _s, _a in arns.redrive)
    return [
        Grant(
            "DrainDlqs",
            (
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueAttributes",
            ),
            dlqs,
        ),
        Grant("MarkDlqs", ("sqs:ListQueueTags", "sqs:TagQueue", "sqs:UntagQueue"), dlqs),
        Grant(
            "RefillSources",
            ("sqs:SendMessage", "sqs:GetQueueAttributes"),
            tuple(s for _d, s, _a in arns.redrive),
        ),
        Grant("ReadDlqAlarms", ("cloudwatch:DescribeAlarms",), tuple(a for _d, _s, a in arns.redrive)),
    ]


# Each function's own grants, by logical name (a test keeps the keys equal to picops.functions.LOGICAL_NAMES).
FUNCTION_GRANTS: dict[str, Callable[[StackArns, str], list[Grant]]] = {
    "IngestFunction": _ingest,
    "ModerationStreamFunction": _moderation_stream,
    "ModerationSweepFunction": _moderation_sweep,
    "BookingApiFunction": _booking_api,
    "InventoryFunction": _inventory,
    "PaymentFunction": _payment,
    "OutboxSweepFunction": _outbox_sweep,
    "DlqRedriveFunction": _dlq_redrive,
}


def batch_operations_grants(
    arns: StackArns, *, sweep_alias_arn: str, inventory_bucket_arn: str | None
) -> list[Grant]:
    """What S3 Batch Operations does with `ModerationBatchRole` for `tag-backfill --engine batch-operations`:
    read the inventory (manifest.json and the data files it lists, both in the inventory's destination
    bucket), invoke the tagger through the sweep function's `live` alias, write the completion report.

    `inventory_bucket_arn` None (no `[moderation] inventory_bucket`): no manifest read is granted, and
    `tag-backfill` refuses to create a job with this role rather than let it fail reading the manifest.
    """
    grants = [
        Grant("InvokeTagger", ("lambda:InvokeFunction",), (sweep_alias_arn,)),
        # S3 writes the report under `<prefix>/job-<id>/...`.
        Grant("WriteReport", ("s3:PutObject",), (f"{arns.processed_bucket}/{REPORT_PREFIX}/*",)),
    ]
    if inventory_bucket_arn:
        grants.append(
            Grant("ReadInventory", ("s3:GetObject", "s3:GetObjectVersion"), (f"{inventory_bucket_arn}/*",))
        )
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
