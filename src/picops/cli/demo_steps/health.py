"""Demo step: the endpoint answers STS and an S3 round trip."""

from __future__ import annotations

import uuid

from picops.cli.demo_steps import DemoContext, DemoStep, StepResult


def run(ctx: DemoContext) -> StepResult:
    factory = ctx.observer or ctx.factory
    identity = factory.client("sts").get_caller_identity()
    s3 = factory.client("s3")
    bucket = f"picops-health-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    try:
        s3.put_object(Bucket=bucket, Key="ping", Body=b"pong")
        body = s3.get_object(Bucket=bucket, Key="ping")["Body"].read()
    finally:
        s3.delete_object(Bucket=bucket, Key="ping")
        s3.delete_bucket(Bucket=bucket)
    ok = body == b"pong"
    return StepResult(
        name="endpoint health",
        ok=ok,
        detail=f"account {identity['Account']}, S3 round trip {'ok' if ok else 'returned ' + repr(body)}",
        data={"account": identity["Account"], "s3_round_trip": ok},
    )


STEP = DemoStep(title="checking the local endpoint", run=run)
