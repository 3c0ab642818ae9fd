"""The one S3 Batch Operations job shape picops creates: LambdaInvoke (schema 2.0) of a stack function's
`live` alias over an S3 Inventory manifest, with a completion report of every task.

`tag-backfill --engine batch-operations` (core/tagging/batch_ops.py) and `ingest backfill --engine
batch-operations` (core/ingest/backfill.py) differ only in the function, its arguments and the report prefix.
"""

from __future__ import annotations

from typing import Any

# The format name S3 Batch Operations uses for an inventory manifest.json (any inventory file format).
INVENTORY_MANIFEST_FORMAT = "S3InventoryReport_CSV_20161130"
# CreateJob refuses a longer Description.
DESCRIPTION_MAX = 256


def lambda_invoke_job(
    *,
    account: str,
    function_arn: str,
    user_arguments: dict[str, str],
    manifest_arn: str,
    manifest_etag: str,
    report_bucket_arn: str,
    report_prefix: str,
    role_arn: str,
    token: str,
    description: str,
    priority: int,
) -> dict[str, Any]:
    """CreateJob parameters."""
    return {
        "AccountId": account,
        "ConfirmationRequired": False,
        "Operation": {
            "LambdaInvoke": {
                "FunctionArn": function_arn,
                "InvocationSchemaVersion": "2.0",
                "UserArguments": user_arguments,
            }
        },
        "Manifest": {
            "Spec": {"Format": INVENTORY_MANIFEST_FORMAT},
            # S3 compares the ETag without the quotes S3 Inventory and HeadObject put around it.
            "Location": {"ObjectArn": manifest_arn, "ETag": manifest_etag.strip('"')},
        },
        "Report": {
            "Bucket": report_bucket_arn,
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "Prefix": report_prefix,
            "ReportScope": "AllTasks",
        },
        "ClientRequestToken": token,
        "Description": description[:DESCRIPTION_MAX],
        "Priority": priority,
        "RoleArn": role_arn,
    }
