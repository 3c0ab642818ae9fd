"""S3 Batch Operations: hand a huge inventory to AWS, which invokes the tagger Lambda per object.

S3's built-in PutObjectTagging operation replaces an object's whole tag set, so it cannot merge; the job
uses LambdaInvoke (invocation schema 2.0) of `picops.handlers.moderation.batch_handler` instead (through
ModerationSweepFunction's `live` alias, whose handler dispatches Batch Operations events to it), with a
completion report (all tasks) written to ProcessedBucket under REPORT_PREFIX, assuming the stack's
ModerationBatchRole (`picops.stack.iam.batch_operations_grants`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from picops.core.tagging.sources.inventory import Manifest
from picops.stack.names import partition_of_arn
from picops.stack.state_objects import BATCH_REPORT_PREFIX

REPORT_PREFIX = BATCH_REPORT_PREFIX

# The format name S3 Batch Operations uses for an inventory manifest.json (any inventory file format).
INVENTORY_MANIFEST_FORMAT = "S3InventoryReport_CSV_20161130"


@dataclass(frozen=True)
class BatchJobRequest:
    account: str
    manifest: Manifest
    function_arn: str
    role_arn: str
    report_bucket_arn: str
    overwrite: bool = True
    priority: int = 10
    token: str = ""

    def params(self) -> dict[str, Any]:
        """CreateJob parameters."""
        return {
            "AccountId": self.account,
            "ConfirmationRequired": False,
            "Operation": {
                "LambdaInvoke": {
                    "FunctionArn": self.function_arn,
                    "InvocationSchemaVersion": "2.0",
                    "UserArguments": {"overwrite": "true" if self.overwrite else "false"},
                }
            },
            "Manifest": {
                "Spec": {"Format": INVENTORY_MANIFEST_FORMAT},
                "Location": {
                    # The report bucket is the stack's: the manifest is in the same partition.
                    "ObjectArn": f"arn:{partition_of_arn(self.report_bucket_arn)}:s3:::"
                    f"{self.manifest.bucket}/{self.manifest.key}",
                    "ETag": self.manifest.etag.strip('"'),
                },
            },
            "Report": {
                "Bucket": self.report_bucket_arn,
                "Format": "Report_CSV_20180820",
                "Enabled": True,
                "Prefix": REPORT_PREFIX,
                "ReportScope": "AllTasks",
            },
            "ClientRequestToken": self.token or str(uuid.uuid4()),
            "Description": f"picops tag-backfill of {self.manifest.url}"[:256],
            "Priority": self.priority,
            "RoleArn": self.role_arn,
        }


def create_job(s3control: Any, request: BatchJobRequest) -> str:
    return str(s3control.create_job(**request.params())["JobId"])


def describe_job(s3control: Any, account: str, job_id: str) -> dict[str, Any]:
    """The job's status in `tag-backfill --job-status --json` shape."""
    job = s3control.describe_job(AccountId=account, JobId=job_id)["Job"]
    summary = job.get("ProgressSummary", {})
    report = job.get("Report", {})
    failures = [
        f"{f.get('FailureCode', '')}: {f.get('FailureReason', '')}" for f in job.get("FailureReasons", [])
    ]
    return {
        "job_id": job_id,
        "status": job.get("Status"),
        "total": int(summary.get("TotalNumberOfTasks", 0)),
        "succeeded": int(summary.get("NumberOfTasksSucceeded", 0)),
        "failed": int(summary.get("NumberOfTasksFailed", 0)),
        "report": {"bucket": report.get("Bucket"), "prefix": report.get("Prefix")} if report else None,
        "failure_reasons": failures,
        "created": str(job.get("CreationTime", "")) or None,
        "terminated": str(job.get("TerminationDate", "")) or None,
    }
