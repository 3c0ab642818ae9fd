"""Physical names derived from the stack name (contract: the logical names of DESIGN.md section 3).

Kept free of boto3 so Lambdas, the CLI and the planner all agree on names without an AWS call; only bucket
names need the account and region (S3 names are global), and configured names always win.
"""

from __future__ import annotations

from dataclasses import dataclass

from picops.config import Settings

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
    "IngestFunction": ("AWS::Lambda::Function", "ingest"),
    "ModerationStreamFunction": ("AWS::Lambda::Function", "moderation-stream"),
    "ModerationSweepFunction": ("AWS::Lambda::Function", "moderation-sweep"),
    "BookingApiFunction": ("AWS::Lambda::Function", "booking-api"),
    "InventoryFunction": ("AWS::Lambda::Function", "inventory"),
    "PaymentFunction": ("AWS::Lambda::Function", "payment"),
    "SweepSchedule": ("AWS::Events::Rule", "sweep-schedule"),
    "SweepDLQ": ("AWS::SQS::Queue", "sweep-dlq"),
    "BookingsApi": ("AWS::ApiGatewayV2::Api", "bookings-api"),
}
BUCKETS: dict[str, str] = {"UploadsBucket": "uploads", "ProcessedBucket": "processed"}

# DLQ logical name -> the logical name of the queue it serves.
DLQ_SOURCES: dict[str, str] = {
    "IngestDLQ": "IngestQueue",
    "InventoryDLQ": "InventoryQueue",
    "PaymentDLQ": "PaymentQueue",
    # Not a queue's DLQ: the dead-letter queue of SweepSchedule's target (failed async invocations).
    "SweepDLQ": "SweepSchedule",
}


def logical_type(logical: str) -> str:
    if logical in BUCKETS:
        return "AWS::S3::Bucket"
    try:
        return _NAMED[logical][0]
    except KeyError:
        raise KeyError(f"unknown logical name {logical!r}") from None


def logical_names() -> list[str]:
    return [*BUCKETS, *_NAMED]


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
            # Bucket names are global: add account and region, keep within S3's 63 characters.
            return f"{self.stack}-{BUCKETS[logical]}-{self.account}-{self.region}"[:63]
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
        ModerationBatchRole; not a DESIGN.md logical name, so it is not in `logical_names()`)."""
        return f"{self.stack}-moderation-batch"

    def queue_url(self, logical: str, endpoint_url: str | None = None) -> str:
        host = endpoint_url.rstrip("/") if endpoint_url else f"https://sqs.{self.region}.amazonaws.com"
        return f"{host}/{self.account}/{self.physical(logical)}"

    def arn(self, logical: str) -> str:
        kind = logical_type(logical)
        name = self.physical(logical)
        partition = "aws-us-gov" if self.region.startswith("us-gov-") else "aws"
        if kind == "AWS::S3::Bucket":
            return f"arn:{partition}:s3:::{name}"
        if kind == "AWS::SQS::Queue":
            return f"arn:{partition}:sqs:{self.region}:{self.account}:{name}"
        if kind == "AWS::SNS::Topic":
            return f"arn:{partition}:sns:{self.region}:{self.account}:{name}"
        if kind == "AWS::DynamoDB::Table":
            return f"arn:{partition}:dynamodb:{self.region}:{self.account}:table/{name}"
        if kind == "AWS::Lambda::Function":
            return f"arn:{partition}:lambda:{self.region}:{self.account}:function:{name}"
        if kind == "AWS::Events::Rule":
            return f"arn:{partition}:events:{self.region}:{self.account}:rule/{name}"
        raise KeyError(f"{logical} ({kind}) has no name-derived ARN")
