"""Shared storage and alerts: the two buckets, JobsTable (picops's own table) and AlertsTopic."""

from __future__ import annotations

from picops.stack.builders.context import BuildContext, deny_insecure_transport
from picops.stack.model import Bucket, BucketPolicy, Resource, Table, Topic, frozen_json


def build(ctx: BuildContext) -> list[Resource]:
    names = ctx.names
    resources: list[Resource] = []
    for logical, versioned in (("UploadsBucket", True), ("ProcessedBucket", False)):
        resources.append(Bucket(logical, names.physical(logical), versioned=versioned))
        if ctx.local:
            # The embedded endpoint serves plain HTTP and evaluates bucket policies: a TLS-only policy would
            # refuse every request. Real AWS targets and the CloudFormation export always carry it.
            continue
        resources.append(
            BucketPolicy(
                f"{logical}Policy",
                names.physical(logical),
                bucket=logical,
                document=frozen_json(deny_insecure_transport(ctx.arn(logical))),
            )
        )
    resources.append(
        Table(
            "JobsTable",
            names.physical("JobsTable"),
            hash_key="pk",
            range_key="sk",
            point_in_time_recovery=True,
        )
    )
    resources.append(Topic("AlertsTopic", names.physical("AlertsTopic")))
    return resources
