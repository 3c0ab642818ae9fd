"""Planner and executor in-process (mock_aws): replacements, other tools' notifications, external tables."""

from __future__ import annotations

from typing import Any

import pytest

from picops.aws import ClientFactory
from picops.config import Settings, load_settings
from picops.errors import ConfigError, UsageError
from picops.provision.apply import Executor
from picops.provision.bundle import Bundle
from picops.provision.plan import Plan, context_for, make_plan
from picops.provision.preflight import preflight


def _settings(**sections: dict[str, Any]) -> Settings:
    return load_settings(overrides={"aws": {"region": "us-east-1"}, **sections}, use_files=False)


def _no_bundle() -> Bundle:
    raise AssertionError("no function is part of these plans")


def _apply_only(plan: Plan, settings: Settings, *logicals: str) -> None:
    subset = Plan(plan.ctx, [c for c in plan.changes if c.logical in logicals])
    Executor(subset, settings, _no_bundle).run()


def test_a_table_whose_key_changed_is_planned_as_replace_and_refused(aws: ClientFactory) -> None:
    settings = _settings()
    aws.client("dynamodb").create_table(
        TableName="picops-jobs",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    plan = make_plan(context_for(settings, aws))
    change = next(c for c in plan.changes if c.logical == "JobsTable")
    assert change.action == "replace"
    assert "KeySchema" in change.diff
    with pytest.raises(UsageError, match="hold data"):
        Executor(plan, settings, _no_bundle).run()
    # Refused before anything else changed.
    assert aws.client("s3").list_buckets()["Buckets"] == []


def test_notifications_keep_other_tools_rules_and_update_converges(aws: ClientFactory) -> None:
    settings = _settings()
    ctx = context_for(settings, aws)
    plan = make_plan(ctx)
    _apply_only(
        plan,
        settings,
        "AccessLogsBucket",
        "AccessLogsBucketPolicy",
        "UploadsBucket",
        "IngestDLQ",
        "IngestQueue",
        "IngestQueuePolicy",
    )
    bucket = ctx.names.uploads_bucket
    s3, sqs = aws.client("s3"), aws.client("sqs")
    other = sqs.create_queue(QueueName="audit")["QueueUrl"]
    other_arn = sqs.get_queue_attributes(QueueUrl=other, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    theirs = {
        "Id": "audit-logs",
        "QueueArn": other_arn,
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "logs/"}]}},
    }
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [theirs]}
    )

    plan = make_plan(context_for(settings, aws))
    assert next(c for c in plan.changes if c.logical == "UploadsBucketNotification").action == "create"
    _apply_only(plan, settings, "UploadsBucketNotification")
    ids = {c["Id"] for c in s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]}
    assert "audit-logs" in ids
    # One rule of ours per suffix (.jpg, .heic, .json, ...).
    assert {i for i in ids if i.startswith("picops-")} == {
        f"picops-ingest-{suffix.lstrip('.')}" for suffix in settings.ingest.suffixes
    }
    again = make_plan(context_for(settings, aws))
    assert next(c for c in again.changes if c.logical == "UploadsBucketNotification").action == "noop"

    # Fewer suffixes: an update that removes ours only.
    narrower = _settings(ingest={"suffixes": (".png",)})
    plan = make_plan(context_for(narrower, aws))
    change = next(c for c in plan.changes if c.logical == "UploadsBucketNotification")
    assert change.action == "update"
    _apply_only(plan, narrower, "UploadsBucketNotification")
    ids = {c["Id"] for c in s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]}
    assert ids == {"audit-logs", "picops-ingest-png"}


def test_a_foreign_rule_overlapping_ours_fails_preflight(aws: ClientFactory) -> None:
    settings = _settings()
    ctx = context_for(settings, aws)
    _apply_only(make_plan(ctx), settings, "AccessLogsBucket", "AccessLogsBucketPolicy", "UploadsBucket")
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="thumbs")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.client("s3").put_bucket_notification_configuration(
        Bucket=ctx.names.uploads_bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "thumbs",
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:Put"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}},
                }
            ]
        },
    )
    with pytest.raises(ConfigError, match="another tool"):
        preflight(make_plan(context_for(settings, aws)))


def test_plan_makes_only_read_calls(aws: ClientFactory) -> None:
    seen: list[str] = []
    for service in (
        "s3",
        "sqs",
        "sns",
        "dynamodb",
        "iam",
        "logs",
        "lambda",
        "events",
        "apigatewayv2",
        "cloudwatch",
        "ssm",
        "sts",
    ):
        aws.client(service).meta.events.register(
            "before-call.*.*", lambda model, **_: seen.append(model.name), unique_id="t"
        )
    plan = make_plan(context_for(_settings(), aws))
    assert plan.summary()["create"] == len(plan.changes)
    assert seen
    assert all(op.startswith(("Get", "List", "Describe", "Head")) for op in seen), sorted(set(seen))


def test_batch_role_is_created_then_updated_when_inventory_bucket_is_set(aws: ClientFactory) -> None:
    settings = _settings()
    _apply_only(make_plan(context_for(settings, aws)), settings, "ModerationBatchRole")
    iam = aws.client("iam")
    role = iam.get_role(RoleName="picops-moderation-batch-us-east-1")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "batchoperations.s3.amazonaws.com"
    }
    assert "S3 Batch Operations" in role["Description"]
    policy = iam.get_role_policy(RoleName="picops-moderation-batch-us-east-1", PolicyName="picops")[
        "PolicyDocument"
    ]
    assert {s["Sid"] for s in policy["Statement"]} == {"InvokeTagger", "WriteReport"}
    plan = make_plan(context_for(settings, aws))
    assert next(c for c in plan.changes if c.logical == "ModerationBatchRole").action == "noop"

    # Naming the inventory bucket changes only the role's policy: an in-place update that converges.
    with_inventory = _settings(moderation={"inventory_bucket": "corp-inventory"})
    plan = make_plan(context_for(with_inventory, aws))
    change = next(c for c in plan.changes if c.logical == "ModerationBatchRole")
    assert change.action == "update"
    assert set(change.diff) == {"Policy"}
    _apply_only(plan, with_inventory, "ModerationBatchRole")
    policy = iam.get_role_policy(RoleName="picops-moderation-batch-us-east-1", PolicyName="picops")[
        "PolicyDocument"
    ]
    read = next(s for s in policy["Statement"] if s["Sid"] == "ReadInventory")
    assert read["Resource"] in ("arn:aws:s3:::corp-inventory/*", ["arn:aws:s3:::corp-inventory/*"])
    again = make_plan(context_for(with_inventory, aws))
    assert next(c for c in again.changes if c.logical == "ModerationBatchRole").action == "noop"


def _external_table(aws: ClientFactory, view: str) -> Settings:
    aws.client("dynamodb").create_table(
        TableName="vendor-verdicts",
        KeySchema=[{"AttributeName": "object_key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "object_key", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": view},
    )
    return _settings(moderation={"external": True, "table_name": "vendor-verdicts"})


@pytest.mark.parametrize("view", ["KEYS_ONLY", "OLD_IMAGE"])
def test_an_external_table_whose_stream_carries_no_new_image_fails_preflight(
    aws: ClientFactory, view: str
) -> None:
    # The stream handler reads each verdict from the record's NewImage: without it every record is skipped.
    settings = _external_table(aws, view)
    with pytest.raises(ConfigError) as raised:
        preflight(make_plan(context_for(settings, aws)))
    assert raised.value.exit_code == 2
    (line,) = [line for line in str(raised.value).splitlines() if "vendor-verdicts" in line]
    assert view in line
    assert "NEW_IMAGE or NEW_AND_OLD_IMAGES" in line


@pytest.mark.parametrize("view", ["NEW_IMAGE", "NEW_AND_OLD_IMAGES"])
def test_an_external_table_streaming_new_images_passes_preflight(aws: ClientFactory, view: str) -> None:
    settings = _external_table(aws, view)
    plan = make_plan(context_for(settings, aws))
    preflight(plan)
    # The view type is read for the check, never planned as a change to the vendor's table.
    assert next(c for c in plan.changes if c.logical == "ModerationTable").action == "noop"
