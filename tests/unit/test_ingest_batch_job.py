"""`picops ingest backfill --engine batch-operations`: the CreateJob request S3 Batch Operations receives,
pinned with Stubber (moto has no Batch Operations)."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber

from picops.core.ingest.backfill import BatchBackfill

ACCOUNT = "123456789012"


def test_the_job_invokes_the_ingest_function_alias_with_the_renditions_and_reports_every_task() -> None:
    job = BatchBackfill(
        account=ACCOUNT,
        manifest_arn="arn:aws:s3:::inventory-dest/uploads/inv/2026-12-01T00-00Z/manifest.json",
        manifest_etag='"abc123"',
        function_arn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:picops-ingest:live",
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/picops-ingest-batch",
        report_bucket_arn="arn:aws:s3:::picops-processed-123456789012-us-east-1",
        report_prefix="_picops/batch-reports",
        renditions=("large", "small"),
        token="token-1",
    )
    client = boto3.client(
        "s3control", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    expected = {
        "AccountId": ACCOUNT,
        "ConfirmationRequired": False,
        "Operation": {
            "LambdaInvoke": {
                "FunctionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:picops-ingest:live",
                "InvocationSchemaVersion": "2.0",
                "UserArguments": {"renditions": "large,small"},
            }
        },
        "Manifest": {
            "Spec": {"Format": "S3InventoryReport_CSV_20161130"},
            "Location": {
                "ObjectArn": "arn:aws:s3:::inventory-dest/uploads/inv/2026-12-01T00-00Z/manifest.json",
                "ETag": "abc123",
            },
        },
        "Report": {
            "Bucket": "arn:aws:s3:::picops-processed-123456789012-us-east-1",
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "Prefix": "_picops/batch-reports",
            "ReportScope": "AllTasks",
        },
        "ClientRequestToken": "token-1",
        "Description": "`picops ingest backfill` of large, small",
        "Priority": 10,
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/picops-ingest-batch",
    }
    with Stubber(client) as stub:
        stub.add_response("create_job", {"JobId": "job-42"}, expected)
        assert job.create(client) == "job-42"
        stub.assert_no_pending_responses()
