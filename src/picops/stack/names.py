"""Physical names derived from the stack name (contract: the logical names in docs/provision.md).

Kept free of boto3 so Lambdas, the CLI and the planner all agree on names without an AWS call; only bucket
names need the account and region (S3 names are global), and configured names always win.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from picops.functions import FUNCTIONS

if TYPE_CHECKING:
    from picops.config import Settings

# The AWS partitions picops builds ARNs for, by region prefix; everything else is the commercial `aws`.
_PARTITION_PREFIXES: tuple[tuple[str, str], ...] = (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"))
# S3 bucket names: 3-63 characters; IAM role names: at most 64.
BUCKET_NAME_MAX = 63
ROLE_NAME_MAX = 64
_HASH_LEN = 8


def partition_of(region: str) -> str:
    """The partition of `region` (`aws`, `aws-cn`, `aws-us-gov`): the one helper every ARN is built with."""
    for prefix, partition in _PARTITION_PREFIXES:
        if region.startswith(prefix):
            return partition
    return "aws"


def partition_of_arn(arn: str) -> str:
    """The partition an existing ARN names (so ARNs derived from it stay in it)."""
    parts = arn.split(":")
    return parts[1] if len(parts) > 2 and parts[0] == "arn" and parts[1] else "aws"


def build_arn(region: str, service: str, account: str, resource: str, *, regional: bool = True) -> str:
    """`arn:<partition>:<service>:<region>:<account>:<resource>`; global services (IAM, S3) leave the
    region (and for S3 the account) empty: pass `regional=False` and `account=""` as the service wants."""
    return f"arn:{partition_of(region)}:{service}:{region if regional else ''}:{account}:{resource}"


def s3_arn(region: str, bucket: str, key: str | None = None) -> str:
    """A bucket's (or an object's, or `bucket/prefix*`'s) ARN in `region`'s partition."""
    return build_arn(region, "s3", "", bucket if key is None else f"{bucket}/{key}", regional=False)


def bounded_name(name: str, limit: int) -> str:
    """`name`, or when it is longer than `limit`, its start plus a short stable hash of the whole: two names
    that differ only past the cut (two regions, two functions) never collapse into one, and the result never
    ends in `-` or `.` (S3 refuses that)."""
    if len(name) <= limit or "${" in name:
        # A CloudFormation template's `${AWS::Region}`-style placeholder: the real length is known only
        # when the stack is deployed (and the hash would be of the placeholder), so it is left whole.
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH_LEN]
    head = name[: limit - _HASH_LEN - 1].rstrip("-.")
    return f"{head}-{digest}"


# logical name -> (AWS type, physical-name suffix). Buckets are handled separately (global names).
_NAMED: dict[str, tuple[str, str]] = {
    "IngestQueue": ("AWS::SQS::Queue", "ingest"),
    "IngestDLQ": ("AWS::SQS::Queue", "ingest-dlq"),
    "JobsTable": ("AWS::DynamoDB::Table", "jobs"),
    "NotifyTopic": ("AWS::SNS::Topic", "notify"),
    "ModerationTable": ("AWS::DynamoDB::Table", "moderation"),
    "BookingsTable": ("AWS::DynamoDB::Table", "bookings"),
    "BookingTopic": ("AWS::SNS::Topic", "booking.fifo"),
    "InventoryQueue": ("AWS::SQS::Queue", "inventory.fifo"),
    "InventoryDLQ": ("AWS::SQS::Queue", "inventory-dlq.fifo"),
    "PaymentQueue": ("AWS::SQS::Queue", "payment.fifo"),
    "PaymentDLQ": ("AWS::SQS::Queue", "payment-dlq.fifo"),
    "AlertsTopic": ("AWS::SNS::Topic", "alerts"),
    **{f.logical: ("AWS::Lambda::Function", f.name_suffix) for f in FUNCTIONS},
    "SweepSchedule": ("AWS::Events::Rule", "sweep-schedule"),
    "SweepDLQ": ("AWS::SQS::Queue", "sweep-dlq"),
    "OutboxSchedule": ("AWS::Events::Rule", "outbox-schedule"),
    **{
        f"{dlq}RedriveSchedule": ("AWS::Events::Rule", f"{suffix}-redrive-schedule")
        for dlq, suffix in (
            ("IngestDLQ", "ingest-dlq"),
            ("InventoryDLQ", "inventory-dlq"),
            ("PaymentDLQ", "payment-dlq"),
        )
    },
    "BookingsApi": ("AWS::ApiGatewayV2::Api", "bookings-api"),
}
# Logical names the model holds only when configured (`[dlq.<Logical>] auto_redrive_every`).
CONFIGURED_ONLY: frozenset[str] = frozenset(
    f"{dlq}RedriveSchedule" for dlq in ("IngestDLQ", "InventoryDLQ", "PaymentDLQ")
)
BUCKETS: dict[str, str] = {"UploadsBucket": "uploads", "ProcessedBucket": "processed"}

# DLQ logical name -> the logical name of the queue it serves.
DLQ_SOURCES: dict[str, str] = {
    "IngestDLQ": "IngestQueue",
    "InventoryDLQ": "InventoryQueue",
    "PaymentDLQ": "PaymentQueue",
    # Not a queue's DLQ: the dead-letter queue of SweepSchedule's target (failed async invocations).
    "SweepDLQ": "SweepSchedule",
}


def dlq_alarm_name(stack: str, dlq: str) -> str:
    """The name of `dlq`'s alarm (messages visible): the operations builder makes it, redrive reads it."""
    return f"{stack}-{dlq}-visible"


def logical_type(logical: str) -> str:
    if logical in BUCKETS:
        return "AWS::S3::Bucket"
    try:
        return _NAMED[logical][0]
    except KeyError:
        raise KeyError(f"unknown logical name {logical!r}") from None


def logical_names() -> list[str]:
    """Every logical name a default stack holds (the configured-only ones resolve, but are not listed)."""
    return [*BUCKETS, *(n for n in _NAMED if n not in CONFIGURED_ONLY)]


def role_name(base: str, region: str) -> str:
    """An IAM role name for a regional resource: IAM is global, so the region keeps two regional copies of a
    stack from sharing (and fighting over) one role; a hash keeps long ones within IAM's 64 characters."""
    return bounded_name(f"{base}-{region}", ROLE_NAME_MAX)


@dataclass(frozen=True)
class StackNames:
    """Physical names for one stack in one account and region."""

    settings: Settings
    account: str
    region: str

    @property
    def stack(self) -> str:
        return self.settings.stack.name

    def physical(self, logical: str) -> str:
        if logical == "UploadsBucket" and self.settings.ingest.uploads_bucket:
            return self.settings.ingest.uploads_bucket
        if logical == "ProcessedBucket" and self.settings.ingest.processed_bucket:
            return self.settings.ingest.processed_bucket
        if logical == "ModerationTable" and self.settings.moderation.table_name:
            return self.settings.moderation.table_name
        if logical in BUCKETS:
            # Bucket names are global: add account and region; past S3's 63 characters a hash of the full
            # name keeps them distinct (a plain cut would give two regions the same bucket).
            return bounded_name(
                f"{self.stack}-{BUCKETS[logical]}-{self.account}-{self.region}", BUCKET_NAME_MAX
            )
        return f"{self.stack}-{_NAMED[logical][1]}" if logical in _NAMED else self._unknown(logical)

    def _unknown(self, logical: str) -> str:
        raise KeyError(f"unknown logical name {logical!r}; known: {', '.join(logical_names())}")

    @property
    def uploads_bucket(self) -> str:
        return self.physical("UploadsBucket")

    @property
    def processed_bucket(self) -> str:
        return self.physical("ProcessedBucket")

    @property
    def moderation_table(self) -> str:
        return self.physical("ModerationTable")

    @property
    def jobs_table(self) -> str:
        """JobsTable: the ingest pipeline's job items and records, and the tag ledger (`LEDGER#` items)."""
        return self.physical("JobsTable")

    @property
    def moderation_batch_role(self) -> str:
        """The role S3 Batch Operations assumes for `tag-backfill --engine batch-operations` (the model's
        ModerationBatchRole; not a contract logical name, so it is not in `logical_names()`). IAM is global:
        the region keeps two regional stacks from overwriting (and destroying) each other's role."""
        return role_name(f"{self.stack}-moderation-batch", self.region)

    def role_arn(self, role: str) -> str:
        return build_arn(self.region, "iam", self.account, f"role/{role}", regional=False)

    def queue_url(self, logical: str, endpoint_url: str | None = None) -> str:
        host = endpoint_url.rstrip("/") if endpoint_url else f"https://sqs.{self.region}.amazonaws.com"
        return f"{host}/{self.account}/{self.physical(logical)}"

    def arn(self, logical: str) -> str:
        kind = logical_type(logical)
        name = self.physical(logical)
        if kind == "AWS::S3::Bucket":
            return s3_arn(self.region, name)
        resource = {
            "AWS::SQS::Queue": ("sqs", name),
            "AWS::SNS::Topic": ("sns", name),
            "AWS::DynamoDB::Table": ("dynamodb", f"table/{name}"),
            "AWS::Lambda::Function": ("lambda", f"function:{name}"),
            "AWS::Events::Rule": ("events", f"rule/{name}"),
        }.get(kind)
        if resource is not None:
            return build_arn(self.region, resource[0], self.account, resource[1])
        raise KeyError(f"{logical} ({kind}) has no name-derived ARN")
