"""`destroy --delete-data` empties a bucket of thousands of versions and delete markers in one run."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest
from botocore.stub import ANY, Stubber

from picops.config import Settings
from picops.provision import destroy, live
from picops.stack.build import build_model
from picops.stack.model import Bucket
from picops.stack.names import StackNames

ACCOUNT, REGION = "123456789012", "us-east-1"


def _ctx(factory: Any) -> live.Context:
    settings = Settings()
    model = build_model(settings, ACCOUNT, REGION)
    return live.Context(factory=factory, model=model, names=StackNames(settings, ACCOUNT, REGION))


def _uploads(ctx: live.Context) -> Bucket:
    bucket = ctx.model.get("UploadsBucket")
    assert isinstance(bucket, Bucket)
    assert bucket.log_bucket  # the uploads bucket is access-logged: the case that matters
    return bucket


def test_thousands_of_versions_and_delete_markers_go_in_one_run(aws: Any) -> None:
    ctx = _ctx(aws)
    bucket = _uploads(ctx)
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=bucket.name)
    s3.put_bucket_versioning(Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"})
    for i in range(1100):
        key = f"incoming/{i:05d}.jpg"
        s3.put_object(Bucket=bucket.name, Key=key, Body=b"1")
        s3.put_object(Bucket=bucket.name, Key=key, Body=b"2")
        if i % 2:
            s3.delete_object(Bucket=bucket.name, Key=key)  # a delete marker
    progress: list[int] = []
    destroy.delete_resource(bucket, ctx, delete_data=True, on_empty=lambda name, n: progress.append(n))
    assert progress == [1000, 2000, 2750]  # 2,200 versions and 550 markers, 1,000 a request
    assert bucket.name not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_the_requests_list_from_the_start_each_pass_and_stop_the_access_log_first(aws: Any) -> None:
    ctx = _ctx(aws)
    bucket = _uploads(ctx)
    s3 = aws.client("s3")
    page = [{"Key": f"k{i}", "VersionId": f"v{i}"} for i in range(1000)]
    stub = Stubber(s3)
    stub.add_response("put_bucket_logging", {}, {"Bucket": bucket.name, "BucketLoggingStatus": {}})
    first = {"Bucket": bucket.name, "MaxKeys": 1000}  # never a KeyMarker: what is left is listed again
    stub.add_response("list_object_versions", {"Versions": page, "IsTruncated": True}, first)
    stub.add_response(
        "delete_objects", {}, {"Bucket": bucket.name, "Delete": {"Objects": page, "Quiet": True}}
    )
    stub.add_response("list_object_versions", {"DeleteMarkers": page[:3], "IsTruncated": False}, first)
    stub.add_response(
        "delete_objects", {}, {"Bucket": bucket.name, "Delete": {"Objects": page[:3], "Quiet": True}}
    )
    stub.add_response("list_object_versions", {"IsTruncated": False}, first)
    # Log objects delivered late make DeleteBucket refuse once: emptied again, then deleted.
    stub.add_client_error(
        "delete_bucket", "BucketNotEmpty", http_status_code=409, expected_params={"Bucket": ANY}
    )
    stub.add_response("list_object_versions", {"Versions": page[:1], "IsTruncated": False}, first)
    stub.add_response(
        "delete_objects", {}, {"Bucket": bucket.name, "Delete": {"Objects": page[:1], "Quiet": True}}
    )
    stub.add_response("list_object_versions", {"IsTruncated": False}, first)
    stub.add_response("delete_bucket", {}, {"Bucket": bucket.name})
    with stub:
        destroy.delete_resource(bucket, ctx, delete_data=True)
    stub.assert_no_pending_responses()


def test_a_bucket_that_stays_not_empty_fails_with_the_aws_code(aws: Any) -> None:
    ctx = _ctx(aws)
    bucket = _uploads(ctx)
    s3 = aws.client("s3")
    stub = Stubber(s3)
    stub.add_response("put_bucket_logging", {}, {"Bucket": bucket.name, "BucketLoggingStatus": {}})
    for _ in range(2):
        stub.add_response(
            "list_object_versions", {"IsTruncated": False}, {"Bucket": bucket.name, "MaxKeys": 1000}
        )
        stub.add_client_error("delete_bucket", "BucketNotEmpty", http_status_code=409)
    # The CLI reports it as every AWS error: one line naming operation, bucket and code, exit 3.
    with stub, pytest.raises(botocore.exceptions.ClientError, match="BucketNotEmpty"):
        destroy.delete_resource(bucket, ctx, delete_data=True)
