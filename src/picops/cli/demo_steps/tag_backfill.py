"""Demo step: sample uploads with odd keys, vendor verdicts for some, then the tag-backfill engine.

Runs after provision, so UploadsBucket and ModerationTable normally exist; when the step runs alone (no
provision step in this build) it creates the two resources itself. Objects go under `moderation-demo/`,
outside the ingest prefix, so they do not feed the ingest pipeline other steps count on.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import botocore.exceptions

from picops.cli.demo_steps import DemoContext, DemoStep, StepResult
from picops.core.tagging import BackfillJob, BackfillRun, run_backfill
from picops.stack.names import StackNames

PREFIX = "moderation-demo/"
# key -> verdict (None: the vendor has not answered yet)
SAMPLES: dict[str, str | None] = {
    f"{PREFIX}beach.jpg": "approved",
    f"{PREFIX}with space.jpg": "approved",
    f"{PREFIX}plus+sign.png": "flagged",
    f"{PREFIX}percent%20literal.jpg": "rejected",
    f"{PREFIX}ünïcødé-写真.webp": "approved",
    f"{PREFIX}nested/dir/deep.jpeg": "flagged",
    f"{PREFIX}already-tagged.jpg": "approved",
    f"{PREFIX}pending-1.jpg": None,
    f"{PREFIX}pending 2.png": None,
    f"{PREFIX}pending+3.jpg": None,
}
# Tags some objects carry before the run: the engine must keep them.
PRESET_TAGS: dict[str, dict[str, str]] = {
    f"{PREFIX}beach.jpg": {"owner": "ana", "camera": "x100"},
    f"{PREFIX}already-tagged.jpg": {"moderation-status": "approved"},
}


def _ensure_resources(ctx: DemoContext, names: StackNames) -> list[str]:
    created = []
    s3 = ctx.factory.client("s3")
    try:
        s3.head_bucket(Bucket=names.uploads_bucket)
    except botocore.exceptions.ClientError:
        s3.create_bucket(Bucket=names.uploads_bucket)
        created.append("UploadsBucket")
    ddb = ctx.factory.client("dynamodb")
    moderation = ctx.settings.moderation
    try:
        ddb.describe_table(TableName=names.moderation_table)
    except ddb.exceptions.ResourceNotFoundException:
        ddb.create_table(
            TableName=names.moderation_table,
            AttributeDefinitions=[{"AttributeName": moderation.key_attribute, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": moderation.key_attribute, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        created.append("ModerationTable")
    return created


def _arrange(ctx: DemoContext, names: StackNames) -> None:
    s3 = ctx.factory.client("s3")
    ddb = ctx.factory.client("dynamodb")
    moderation = ctx.settings.moderation
    for key in SAMPLES:
        tags = PRESET_TAGS.get(key, {})
        tagging = "&".join(f"{quote(k)}={quote(v)}" for k, v in tags.items())
        s3.put_object(Bucket=names.uploads_bucket, Key=key, Body=b"demo image bytes", Tagging=tagging)
    for key, verdict in SAMPLES.items():
        if verdict is not None:
            ddb.put_item(
                TableName=names.moderation_table,
                Item={moderation.key_attribute: {"S": key}, moderation.status_attribute: {"S": verdict}},
            )


def run(ctx: DemoContext) -> StepResult:
    names = StackNames(ctx.settings, ctx.factory.account_id(), ctx.factory.region)
    created = _ensure_resources(ctx, names)
    _arrange(ctx, names)
    moderation = ctx.settings.moderation
    job = BackfillJob(
        table=names.moderation_table,
        key_attribute=moderation.key_attribute,
        status_attribute=moderation.status_attribute,
        tag_key=moderation.tag_key,
        statuses=moderation.statuses,
        bucket=names.uploads_bucket,
        prefix=PREFIX,
    )
    first = run_backfill(ctx.factory, job, BackfillRun(concurrency=8))
    second = run_backfill(ctx.factory, job, BackfillRun(concurrency=8))
    with_verdict = sum(v is not None for v in SAMPLES.values())
    preset = sum(1 for k in PRESET_TAGS if moderation.tag_key in PRESET_TAGS[k])
    expected_first = {
        "scanned": len(SAMPLES),
        "tagged": with_verdict - preset,
        "unchanged": preset,
        "pending": len(SAMPLES) - with_verdict,
        "missing": 0,
        "failed": 0,
        "skipped_by_ledger": 0,  # the demo's job runs without the tag ledger
    }
    expected_second = {**expected_first, "tagged": 0, "unchanged": with_verdict}
    s3 = ctx.factory.client("s3")
    actual_tags: dict[str, Any] = {}
    tags_ok = True
    for key, verdict in SAMPLES.items():
        tag_set = s3.get_object_tagging(Bucket=names.uploads_bucket, Key=key)["TagSet"]
        tags = {t["Key"]: t["Value"] for t in tag_set}
        want = {k: v for k, v in PRESET_TAGS.get(key, {}).items() if k != moderation.tag_key}
        if verdict is not None:
            want[moderation.tag_key] = verdict
        tags_ok = tags_ok and tags == want
        actual_tags[key] = tags
    counts_ok = first.counts.as_dict() == expected_first and second.counts.as_dict() == expected_second
    ok = counts_ok and tags_ok
    c = first.counts
    detail = (
        f"{c.scanned} objects: {c.tagged} tagged, {c.unchanged} unchanged, {c.pending} pending, "
        f"{c.missing} missing, {c.failed} failed; re-run: {second.counts.unchanged} unchanged, "
        f"{second.counts.tagged} tagged; other tags kept: {'yes' if tags_ok else 'NO'}"
    )
    if not counts_ok:
        detail += f" (expected {expected_first}, then {expected_second})"
    if created:
        detail += f" (created {', '.join(created)}: provision did not run)"
    return StepResult(
        name="moderation tag-backfill",
        ok=ok,
        detail=detail,
        data={
            "first": first.as_json(),
            "second": second.as_json(),
            "expected_first": expected_first,
            "created": created,
        },
    )


STEP = DemoStep(title="tagging uploads with moderation verdicts (tag-backfill)", run=run)
