"""Demo step: a poisoned message lands in IngestDLQ; `dlq list` shows it; a redrive puts it back.

Runs after provision, so IngestQueue and IngestDLQ exist (with IngestQueue's redrive policy naming
IngestDLQ). ok only when the DLQ went to 0 and IngestQueue received the message.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from picops.cli.demo_steps import DemoContext, DemoStep, StepResult
from picops.core.dlq import (
    ManualRedrive,
    RedriveOptions,
    Router,
    arn_resolver,
    dlq_info,
    plan_redrive,
    refresh,
    resolve_queue,
)
from picops.errors import ResourceMissing
from picops.stack.names import StackNames


def run(ctx: DemoContext) -> StepResult:
    factory = ctx.factory
    sqs = factory.client("sqs")
    names = StackNames(ctx.settings, factory.account_id(), factory.region)
    try:
        dlq = resolve_queue(sqs, "IngestDLQ", names)
        source = resolve_queue(sqs, "IngestQueue", names)
    except ResourceMissing as exc:
        return StepResult(name="dlq redrive", ok=False, detail=f"{exc.message} (the provision step makes it)")

    marker = _send_poison(sqs, dlq.url, names.uploads_bucket)

    before_dlq = refresh(sqs, dlq)
    before_source = refresh(sqs, source)
    _show_list(ctx, dlq_info(sqs, factory.client("cloudwatch"), before_dlq))

    plan = plan_redrive(
        sqs,
        names,
        "IngestDLQ",
        None,
        native=True,
        is_local=factory.is_local,
        has_filter=False,
        has_max=False,
        has_archive=False,
    )
    router = Router(plan.dlq, plan.to, plan.sources, arn_resolver(sqs))
    stats = ManualRedrive(sqs, plan.dlq, router, RedriveOptions(wait_seconds=1, empty_polls=2)).run()

    after_dlq = refresh(sqs, dlq)
    after_source = refresh(sqs, source)
    # In-flight counts too: a consumer (the local runtime) may already be holding the redriven message.
    before = {"dlq": before_dlq.visible, "source": before_source.visible + before_source.in_flight}
    after = {
        "dlq": after_dlq.visible + after_dlq.in_flight,
        "source": after_source.visible + after_source.in_flight,
    }
    ctx.out.key_values(
        {
            "IngestDLQ before -> after": f"{before['dlq']} -> {after['dlq']}",
            "IngestQueue before -> after": f"{before['source']} -> {after['source']}",
            "moved": f"{stats.moved} ({plan.mode} path)",
        }
    )
    ok = (
        after["dlq"] == 0
        and stats.moved == before["dlq"]
        and stats.failed == 0
        and after["source"] >= before["source"] + stats.moved
        and stats.destinations.get(source.arn, 0) == stats.moved
    )
    return StepResult(
        name="dlq redrive",
        ok=ok,
        detail=f"IngestDLQ {before['dlq']} -> {after['dlq']}, IngestQueue {before['source']} -> "
        f"{after['source']} ({stats.moved} moved, {plan.mode} path)",
        data={"before": before, "after": after, "redrive": stats.as_dict(), "marker": marker},
    )


def _send_poison(sqs: Any, dlq_url: str, uploads_bucket: str) -> str:
    """An S3 notification for an object that does not exist (the kind of message ingest gives up on), put
    straight into the DLQ; returns the marker it carries."""
    marker = uuid.uuid4().hex
    poison = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": uploads_bucket},
                    "object": {"key": f"incoming/missing-{marker}.jpg", "size": 0},
                },
            }
        ]
    }
    sqs.send_message(
        QueueUrl=dlq_url,
        MessageBody=json.dumps(poison),
        MessageAttributes={"picops-demo": {"DataType": "String", "StringValue": marker}},
    )
    return marker


def _show_list(ctx: DemoContext, info: Any) -> None:
    ctx.out.table(
        "picops dlq list",
        ["DLQ", "sources (maxReceiveCount)", "visible", "in flight"],
        [
            [
                f"{info.name} (IngestDLQ)",
                ", ".join(f"{s.name} ({s.max_receive_count})" for s in info.sources) or "-",
                info.visible,
                info.in_flight,
            ]
        ],
    )


STEP = DemoStep(title="redriving a poisoned message out of IngestDLQ", run=run)
