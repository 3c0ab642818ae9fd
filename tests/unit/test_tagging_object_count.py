"""`core.tagging.bucket_object_count`: the direct backfill's estimate, from S3's daily metric (Stubber)."""

from __future__ import annotations

import datetime
from typing import Any

import boto3
from botocore.stub import ANY, Stubber

from picops.core.tagging import bucket_object_count


class _Factory:
    def __init__(self) -> None:
        self.cloudwatch = boto3.client(
            "cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )

    def client(self, service: str, **kwargs: Any) -> Any:
        assert service == "cloudwatch"
        return self.cloudwatch


def _request() -> dict[str, Any]:
    return {
        "Namespace": "AWS/S3",
        "MetricName": "NumberOfObjects",
        "Dimensions": [
            {"Name": "BucketName", "Value": "uploads"},
            {"Name": "StorageType", "Value": "AllStorageTypes"},
        ],
        "StartTime": ANY,
        "EndTime": ANY,
        "Period": 86400,
        "Statistics": ["Average"],
    }


def test_the_latest_daily_datapoint_is_the_count() -> None:
    factory = _Factory()
    day = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
    points = [
        {"Timestamp": day, "Average": 10.0},
        {"Timestamp": day + datetime.timedelta(days=1), "Average": 12.0},
    ]
    with Stubber(factory.cloudwatch) as stub:
        stub.add_response("get_metric_statistics", {"Datapoints": points}, _request())
        assert bucket_object_count(factory, "uploads") == 12


def test_no_permission_for_metrics_leaves_the_count_unknown() -> None:
    factory = _Factory()
    with Stubber(factory.cloudwatch) as stub:
        stub.add_client_error(
            "get_metric_statistics", service_error_code="AccessDenied", http_status_code=403
        )
        assert bucket_object_count(factory, "uploads") is None
    with Stubber(factory.cloudwatch) as stub:
        stub.add_response("get_metric_statistics", {"Datapoints": []}, _request())
        assert bucket_object_count(factory, "uploads") is None
