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

from picops.core.batch_jobs import lambda_invoke_job
from picops.core.tagging.sources import count_rows, load_manifest, parse_s3_url
from picops.core.tagging.sources.inventory import Manifest
from picops.errors import UsageError, input_field
from picops.stack.names import StackNames, partition_of_arn
from picops.stack.state_objects import BATCH_REPORT_PREFIX

REPORT_PREFIX = BATCH_REPORT_PREFIX
# The alias provision and deploy keep on the current version (every event source targets it too).
FUNCTION_ALIAS = "live"


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
        return lambda_invoke_job(
            account=self.account,
            function_arn=self.function_arn,
            user_arguments={"overwrite": "true" if self.overwrite else "false"},
            # The report bucket is the stack's: the manifest is in the same partition.
            manifest_arn=f"arn:{partition_of_arn(self.report_bucket_arn)}:s3:::"
            f"{self.manifest.bucket}/{self.manifest.key}",
            manifest_etag=self.manifest.etag,
            report_bucket_arn=self.report_bucket_arn,
            report_prefix=REPORT_PREFIX,
            role_arn=self.role_arn,
            token=self.token or str(uuid.uuid4()),
            description=f"picops tag-backfill of {self.manifest.url}",
            priority=self.priority,
        )


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


@dataclass(frozen=True)
class PreparedJob:
    """A CreateJob request checked against what the stack's role and function may do, and its size."""

    request: BatchJobRequest
    objects: int  # rows of the inventory: S3 Batch Operations bills per object

    @property
    def function_arn(self) -> str:
        return self.request.function_arn

    @property
    def role_arn(self) -> str:
        return self.request.role_arn


def prepare_job(
    factory: Any,
    names: StackNames,
    inventory: str,
    *,
    overwrite: bool = True,
    function_arn: str | None = None,
    role_arn: str | None = None,
) -> PreparedJob:
    """The CreateJob request for a backfill of `inventory`, refused (exit 2) when the job could only fail:
    a role that may not read the manifest or its data files, a function that may not tag its bucket."""
    stack_role = names.role_arn(names.moderation_batch_role)
    role = role_arn or names.settings.moderation.batch_role_arn or stack_role
    # The stack's role may read only `[moderation] inventory_bucket`: refuse before S3 Batch Operations
    # accepts a job that then fails reading its manifest. Another role's grants are its owner's business.
    readable = names.settings.moderation.inventory_bucket if role == stack_role else None
    if role == stack_role:
        _check_manifest_readable(parse_s3_url(inventory)[0], readable, inventory)
    s3 = factory.client("s3")
    manifest = load_manifest(s3, inventory)
    if readable is not None and manifest.files_bucket != readable:
        raise UsageError(
            f"the inventory's data files are in bucket {manifest.files_bucket!r}, but the stack's "
            f"ModerationBatchRole may read only {readable!r}",
            hint=f"pass {input_field('role_arn')} with a role that may read both buckets",
        )
    _check_function_may_tag(names, manifest, function_arn)
    # The stack has no function of its own for Batch Operations: the job invokes ModerationSweepFunction
    # through its `live` alias, and its handler hands Batch Operations events to batch_handler.
    target = function_arn or f"{names.arn('ModerationSweepFunction')}:{FUNCTION_ALIAS}"
    request = BatchJobRequest(
        account=factory.account_id(),
        manifest=manifest,
        function_arn=target,
        role_arn=role,
        report_bucket_arn=names.arn("ProcessedBucket"),
        overwrite=overwrite,
    )
    return PreparedJob(request, count_rows(s3, manifest))


def _check_function_may_tag(names: StackNames, manifest: Manifest, function_arn: str | None) -> None:
    if function_arn is None and manifest.source_bucket != names.uploads_bucket:
        # The sweeper's role may tag UploadsBucket only: every task would fail with AccessDenied.
        raise UsageError(
            f"the inventory lists bucket {manifest.source_bucket!r}, but ModerationSweepFunction tags "
            f"only UploadsBucket ({names.uploads_bucket})",
            hint=f"use an inventory of UploadsBucket, or {input_field('function_arn')} for a function "
            "allowed to tag it",
        )


def _check_manifest_readable(manifest_bucket: str, readable: str | None, url: str) -> None:
    role_arn = input_field("role_arn")
    if readable is None:
        raise UsageError(
            "the stack's ModerationBatchRole may read no inventory: [moderation] inventory_bucket is not set",
            hint=f"set [moderation] inventory_bucket = {manifest_bucket!r} (the bucket holding {url}) and "
            f"provision the stack again, or pass {role_arn} with a role that may read it",
        )
    if manifest_bucket != readable:
        raise UsageError(
            f"{url} is in bucket {manifest_bucket!r}, but the stack's ModerationBatchRole may read only "
            f"[moderation] inventory_bucket = {readable!r}",
            hint=f"set [moderation] inventory_bucket = {manifest_bucket!r} and provision the stack again, or "
            f"pass {role_arn} with a role that may read it",
        )
