"""AWS::S3::BucketPolicy: TLS-only access, and on the log bucket the logging service's write grant."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from picops.aws_errors import BUCKET_MISSING
from picops.provision.kinds._common import GONE, describe_or_none, ignore_missing
from picops.stack.model import BucketPolicy, StackModel, canonical

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = BucketPolicy


def read(r: BucketPolicy, ctx: Context) -> dict[str, Any] | None:
    s3 = ctx.client("s3")
    found = describe_or_none(
        lambda: s3.get_bucket_policy(Bucket=r.name), BUCKET_MISSING, also={"NoSuchBucketPolicy"}
    )
    return {"Policy": canonical(found["Policy"])} if found is not None else None


def desired(r: BucketPolicy, ctx: Context) -> dict[str, Any]:
    return r.desired()


def apply(r: BucketPolicy, change: Change, ctx: Context) -> None:
    ctx.client("s3").put_bucket_policy(Bucket=r.name, Policy=r.document)


def delete(r: BucketPolicy, ctx: Context) -> None:
    s3 = ctx.client("s3")
    ignore_missing(lambda: s3.delete_bucket_policy(Bucket=r.name), *GONE)


def render(r: BucketPolicy, model: StackModel) -> dict[str, Any]:
    return {"Bucket": {"Ref": r.bucket}, "PolicyDocument": json.loads(r.document)}
