"""The security resources planned, applied, re-planned as noop, drifted and destroyed (mock_aws)."""

from __future__ import annotations

import json
from typing import Any

from picops.aws import ClientFactory
from picops.config import Settings, load_settings
from picops.provision import live
from picops.provision.apply import Executor
from picops.provision.bundle import Bundle
from picops.provision.destroy import delete_resource
from picops.provision.kinds import bucket
from picops.provision.plan import Plan, context_for, make_plan

JWT = {"authorizer": "jwt", "jwt_issuer": "https://idp.example.com/pool", "jwt_audience": ("app",)}
# Every security default of docs/security.md, with what it hangs off (no functions: they need a bundle).
SECURITY = (
    "IngestFunctionRole",
    "PaymentFunctionRole",
    "BookingApiFunctionRole",
    "ModerationStreamFunctionRole",
    "TopicsKey",
    "AlertsKey",
    "NotifyTopic",
    "BookingTopic",
    "AlertsTopic",
    "AccessLogsBucket",
    "AccessLogsBucketPolicy",
    "UploadsBucket",
    "ProcessedBucket",
    "ModerationTable",
    "SweepDLQ",
    "SweepDLQPolicy",
    "SweepSchedule",
    "BookingsApiAccessLogs",
    "BookingsApi",
    "BookingsApiAuthorizer",
    "BookingsApiIntegration",
    "BookingsApiCreateRoute",
    "BookingsApiGetRoute",
)


def _settings(**sections: dict[str, Any]) -> Settings:
    return load_settings(overrides={"aws": {"region": "us-east-1"}, **sections}, use_files=False)


def _no_bundle() -> Bundle:
    raise AssertionError("no function is part of these plans")


def _plan(settings: Settings, aws: ClientFactory) -> Plan:
    return make_plan(context_for(settings, aws))


def _actions(plan: Plan) -> dict[str, str]:
    return {c.logical: c.action for c in plan.changes if c.logical in SECURITY}


def _apply(plan: Plan, settings: Settings) -> None:
    subset = Plan(plan.ctx, [c for c in plan.changes if c.logical in SECURITY])
    Executor(subset, settings, _no_bundle).run()


def test_security_resources_converge_and_drift_is_found(aws: ClientFactory) -> None:
    settings = _settings(bookings=JWT)
    first = _plan(settings, aws)
    assert set(_actions(first).values()) == {"create"}
    _apply(first, settings)
    again = _plan(settings, aws)
    assert _actions(again) == dict.fromkeys(SECURITY, "noop"), [
        (c.logical, c.diff) for c in again.pending if c.logical in SECURITY
    ]

    s3, kms, sns = aws.client("s3"), aws.client("kms"), aws.client("sns")
    names = again.ctx.names
    # What AWS now holds.
    logging = s3.get_bucket_logging(Bucket=names.uploads_bucket)["LoggingEnabled"]
    assert logging["TargetPrefix"] == "uploads/"
    log_bucket = logging["TargetBucket"]
    rules = s3.get_bucket_lifecycle_configuration(Bucket=log_bucket)["Rules"]
    assert [r["Expiration"]["Days"] for r in rules if r["ID"] == bucket.EXPIRY_RULE_ID] == [90]
    alerts_arn = names.arn("AlertsTopic")
    assert (
        sns.get_topic_attributes(TopicArn=alerts_arn)["Attributes"]["KmsMasterKeyId"] == "alias/picops-alerts"
    )
    key = kms.describe_key(KeyId="alias/picops-alerts")["KeyMetadata"]
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True
    policy = json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    assert {s["Sid"] for s in policy["Statement"]} == {
        "KeyAdministration",
        "PublishAlertsTopic",
        "CloudwatchPublishAlertsTopic",
    }
    pitr = aws.client("dynamodb").describe_continuous_backups(TableName=names.moderation_table)
    assert pitr["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
        "PointInTimeRecoveryStatus"
    ] == ("ENABLED")
    target = aws.client("events").list_targets_by_rule(Rule="picops-sweep-schedule")["Targets"][0]
    assert target["DeadLetterConfig"]["Arn"].endswith(":picops-sweep-dlq")
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 4
    api = aws.client("apigatewayv2")
    api_id = again.ctx.fact("BookingsApi", "ApiId")
    stage = api.get_stage(ApiId=api_id, StageName="$default")
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 100
    assert stage["AccessLogSettings"]["DestinationArn"].endswith(
        "/aws/vendedlogs/apigateway/picops-bookings-api"
    )
    routes = api.get_routes(ApiId=api_id)["Items"]
    assert {r["AuthorizationType"] for r in routes} == {"JWT"}
    assert {r["AuthorizerId"] for r in routes} == {again.ctx.fact("BookingsApiAuthorizer", "AuthorizerId")}

    # Drift: someone turns logging off, rotation off and widens the key policy; the plan says so, and
    # applying puts it back.
    s3.put_bucket_logging(Bucket=names.uploads_bucket, BucketLoggingStatus={})
    kms.disable_key_rotation(KeyId=key["KeyId"])
    policy["Statement"].append(
        {
            "Sid": "Anyone",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "kms:Decrypt",
            "Resource": "*",
        }
    )
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(policy))
    drifted = _plan(settings, aws)
    pending = {c.logical: set(c.diff) for c in drifted.pending if c.logical in SECURITY}
    assert pending == {"UploadsBucket": {"Logging"}, "AlertsKey": {"KeyPolicy", "KeyRotationEnabled"}}
    _apply(drifted, settings)
    assert _actions(_plan(settings, aws)) == dict.fromkeys(SECURITY, "noop")

    # Access logging turned off by configuration: the buckets stop logging (an update, nothing replaced).
    off = _settings(bookings=JWT, stack={"access_logs": False})
    plan = _plan(off, aws)
    change = next(c for c in plan.changes if c.logical == "UploadsBucket")
    assert (change.action, set(change.diff)) == ("update", {"Logging"})


def test_destroy_schedules_the_key_and_a_later_provision_makes_a_new_one(aws: ClientFactory) -> None:
    settings = _settings()
    plan = _plan(settings, aws)
    subset = ("AlertsKey", "ModerationStreamFunctionRole")
    Executor(Plan(plan.ctx, [c for c in plan.changes if c.logical in subset]), settings, _no_bundle).run()
    ctx = context_for(settings, aws)
    key = ctx.model.get("AlertsKey")
    assert live.read(key, ctx) is not None
    old_id = ctx.fact("AlertsKey", "KeyId")
    delete_resource(key, ctx, delete_data=False)
    kms = aws.client("kms")
    assert kms.describe_key(KeyId=old_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    fresh = context_for(settings, aws)
    assert live.read(key, fresh) is None  # planned as create again
    again = _plan(settings, aws)
    Executor(
        Plan(again.ctx, [c for c in again.changes if c.logical == "AlertsKey"]), settings, _no_bundle
    ).run()
    assert kms.describe_key(KeyId="alias/picops-alerts")["KeyMetadata"]["KeyId"] != old_id
