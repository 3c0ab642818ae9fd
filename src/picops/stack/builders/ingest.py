"""Ingest: UploadsBucket notifications -> IngestQueue (+DLQ) -> IngestFunction -> outputs and NotifyTopic."""

from __future__ import annotations

from picops.stack.builders.context import BuildContext, allow_send, queue_pair, sqs_mapping
from picops.stack.builders.shared import encrypted_topic
from picops.stack.model import (
    BucketNotification,
    QueueNotification,
    QueuePolicy,
    Resource,
    frozen_json,
)


def build(ctx: BuildContext) -> list[Resource]:
    settings, names, arn = ctx.settings, ctx.names, ctx.arn
    resources: list[Resource] = [encrypted_topic(ctx, "NotifyTopic")]
    resources += queue_pair(
        ctx,
        "IngestQueue",
        "IngestDLQ",
        consumer="IngestFunction",
        max_receive=settings.ingest.max_receive_count,
        batching_window_s=settings.ingest.batch_window_s,
    )
    resources.append(
        QueuePolicy(
            "IngestQueuePolicy",
            names.physical("IngestQueue"),
            queue="IngestQueue",
            queue_arn=arn("IngestQueue"),
            document=frozen_json(
                allow_send(
                    arn("IngestQueue"),
                    "s3.amazonaws.com",
                    {
                        "ArnLike": {"aws:SourceArn": arn("UploadsBucket")},
                        "StringEquals": {"aws:SourceAccount": ctx.account},
                    },
                )
            ),
        )
    )
    # S3 -> IngestQueue: one configuration per suffix under the prefix. Removals come too, so derived
    # outputs follow their original (docs/ingest.md, "Deletions").
    resources.append(
        BucketNotification(
            "UploadsBucketNotification",
            names.uploads_bucket,
            bucket="UploadsBucket",
            queue="IngestQueue",
            queue_policy="IngestQueuePolicy",
            configurations=tuple(
                QueueNotification(
                    id=f"picops-ingest-{suffix.lstrip('.').replace('.', '-') or 'any'}",
                    queue_arn=arn("IngestQueue"),
                    events=("s3:ObjectCreated:*", "s3:ObjectRemoved:*"),
                    prefix=settings.ingest.prefix,
                    suffix=suffix,
                )
                for suffix in settings.ingest.suffixes
            ),
        )
    )
    resources += ctx.function("IngestFunction")
    resources.append(
        sqs_mapping(
            ctx,
            "IngestQueue",
            "IngestFunction",
            batch_size=settings.ingest.batch_size,
            batching_window_s=settings.ingest.batch_window_s,
            max_concurrency=settings.ingest.max_concurrency,
        )
    )
    return resources
