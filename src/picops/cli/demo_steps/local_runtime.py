"""Demo step: the local runtime feeds ModerationTable's stream to the stream handler, which tags it.

An object outside the ingest prefix (so no S3 notification feeds IngestQueue for it) gets a vendor verdict in
ModerationTable; one `LocalRuntime` drain (what `picops local run --once` does) must leave it carrying the
moderation tag. The stream mapping starts at LATEST as of provision, so the verdicts the tag-backfill step
wrote earlier are delivered too (their objects are already tagged: the handler leaves them unchanged); the
mappings whose handlers are not built yet (ingest, bookings) are reported as skipped, which is expected.
"""

from __future__ import annotations

import uuid

from rich.markup import escape

from picops.cli.demo_steps import DemoContext, DemoStep, StepResult
from picops.cli.demo_steps.logview import demo_log_view
from picops.local.runtime import LocalRuntime
from picops.stack.names import StackNames

PREFIX = "moderation-demo/"
STREAM_MAPPING = "ModerationStreamFunctionMapping"
VERDICT = "flagged"


def run(ctx: DemoContext) -> StepResult:
    factory = ctx.factory
    names = StackNames(ctx.settings, factory.account_id(), factory.region)
    moderation = ctx.settings.moderation
    key = f"{PREFIX}stream-{uuid.uuid4()}.jpg"
    s3 = factory.client("s3")
    s3.put_object(Bucket=names.uploads_bucket, Key=key, Body=b"demo image bytes")
    factory.client("dynamodb").put_item(
        TableName=names.moderation_table,
        Item={moderation.key_attribute: {"S": key}, moderation.status_attribute: {"S": VERDICT}},
    )
    runtime = LocalRuntime(
        factory,
        ctx.settings,
        progress=lambda line: ctx.out.status(f"  {escape(line)}"),
        log_view=demo_log_view(ctx.out),
    )
    try:
        runtime.prepare()
        runtime.drain()
    finally:
        runtime.close()
    summary = runtime.summary()
    by_logical = {m["logical"]: m for m in summary["mappings"]}
    stream = by_logical.get(STREAM_MAPPING, {})
    tags = {
        t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=names.uploads_bucket, Key=key)["TagSet"]
    }
    tagged = tags.get(moderation.tag_key) == VERDICT
    stream_ok = stream.get("status") == "ok" and stream.get("failed_records") == 0
    ok = tagged and stream_ok
    skipped = [m["logical"] for m in summary["mappings"] if m["status"] == "skipped"]
    detail = (
        f"{key}: verdict {VERDICT!r} -> stream handler ({stream.get('invocations', 0)} invocation(s), "
        f"{stream.get('records', 0)} record(s)) -> tag {moderation.tag_key}={tags.get(moderation.tag_key)!r}"
    )
    if skipped:
        detail += f"; skipped (handler not built yet): {', '.join(skipped)}"
    if not stream_ok:
        detail += f"; stream mapping {stream.get('status', 'missing')}: {stream.get('detail', '')}"
    return StepResult(
        name="local runtime (stream -> handler)",
        ok=ok,
        detail=detail,
        data={"key": key, "tags": tags, "runtime": summary},
    )


STEP = DemoStep(title="delivering the moderation stream with the local runtime (local run)", run=run)
