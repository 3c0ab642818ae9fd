"""The stack's security defaults (docs/security.md), over the model: encrypted topics whose keys let every
publisher in the model use them, access logging, PITR, the API's logging/throttling/authorizer, SweepDLQ."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from picops.config import load_settings
from picops.errors import ConfigError
from picops.provision.preflight import security_warnings
from picops.stack import security
from picops.stack.build import build_model
from picops.stack.model import (
    Alarm,
    ApiAuthorizer,
    ApiRoute,
    Bucket,
    BucketPolicy,
    EventSourceMapping,
    FunctionSpec,
    HttpApi,
    KmsKey,
    Queue,
    QueuePolicy,
    Role,
    ScheduleRule,
    StackModel,
    Subscription,
    Table,
    Topic,
)
from picops.stack.names import DLQ_SOURCES

ACCOUNT, REGION = "123456789012", "eu-west-1"


def _model(local: bool = False, **sections: dict[str, Any]) -> StackModel:
    return build_model(load_settings(overrides=sections, use_files=False), ACCOUNT, REGION, local=local)


def _key_policy(model: StackModel, topic: Topic) -> dict[str, Any]:
    key = model.get(topic.kms_key)
    assert isinstance(key, KmsKey)
    policy: dict[str, Any] = json.loads(key.document)
    return policy


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else list(actions)


def _resources(statement: dict[str, Any]) -> list[str]:
    resources = statement.get("Resource", [])
    return [resources] if isinstance(resources, str) else list(resources)


def test_every_topic_is_encrypted_with_a_stack_key() -> None:
    model = _model()
    for topic in model.of_type(Topic):
        assert topic.kms_key, topic.logical
        assert topic.attributes()["KmsMasterKeyId"] == topic.kms_key_alias
        assert topic.kms_key in topic.depends_on
        key = model.get(topic.kms_key)
        assert isinstance(key, KmsKey)
        assert key.name == topic.kms_key_alias
        assert key.desired()["KeyRotationEnabled"] is True
    alerts = model.get("AlertsTopic")
    assert isinstance(alerts, Topic)
    assert alerts.kms_key == "AlertsKey"  # its own key, not the one the function publishers share


def test_every_publisher_in_the_model_is_allowed_by_the_topics_key_policy() -> None:
    """Walk the model independently of how the key policies are built: every role granted sns:Publish on a
    topic, every alarm notifying it and every mapping's on-failure destination must be allowed to use the
    topic's key for that topic; otherwise SNS refuses (or silently drops) the message."""
    model = _model()
    arn_of = {f"arn:aws:sns:{REGION}:{ACCOUNT}:{t.name}": t for t in model.of_type(Topic)}
    role_arn = {r.logical: f"arn:aws:iam::{ACCOUNT}:role/{r.name}" for r in model.of_type(Role)}
    checked = 0
    for role in model.of_type(Role):
        for statement in json.loads(role.document)["Statement"]:
            if "sns:Publish" not in _actions(statement):
                continue
            for resource in _resources(statement):
                topic = arn_of[resource]
                assert security.key_allows(
                    _key_policy(model, topic),
                    principal=role_arn[role.logical],
                    service=False,
                    topic_arn=resource,
                ), f"{role.logical} may publish to {topic.logical} but not use its key"
                checked += 1
    for alarm in model.of_type(Alarm):
        topic = arn_of[alarm.topic_arn]
        policy = _key_policy(model, topic)
        assert security.key_allows(
            policy, principal=security.CLOUDWATCH_SERVICE, service=True, topic_arn=alarm.topic_arn
        )
        # The CloudWatch statement is limited to this stack's alarms: every alarm of the model matches it.
        (cw,) = [
            s for s in policy["Statement"] if s["Principal"].get("Service") == security.CLOUDWATCH_SERVICE
        ]
        alarm_arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm.name}"
        assert fnmatch.fnmatch(alarm_arn, cw["Condition"]["ArnLike"]["aws:SourceArn"]), alarm.logical
        assert cw["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
        checked += 1
    for mapping in model.of_type(EventSourceMapping):
        if mapping.on_failure_arn and mapping.on_failure_arn in arn_of:
            function = model.get(mapping.function)
            assert isinstance(function, FunctionSpec)
            assert security.key_allows(
                _key_policy(model, arn_of[mapping.on_failure_arn]),
                principal=role_arn[function.role],
                service=False,
                topic_arn=mapping.on_failure_arn,
            ), f"{mapping.logical}'s on-failure records would be refused"
            checked += 1
    # The walk really covered them: at least the four (role or mapping, topic) publishing pairs of the stack
    # (ingest -> NotifyTopic, booking API -> BookingTopic, the stream function's on-failure grant and mapping
    # -> AlertsTopic) plus every alarm.
    assert checked >= 4 + len(model.of_type(Alarm))
    # Subscribers: SNS decrypts before delivering; the queues it delivers to use SQS-managed SSE, which needs
    # no grant on the topic's key.
    for sub in model.of_type(Subscription):
        queue = model.get(sub.queue)
        assert isinstance(queue, Queue)
        assert queue.attributes()["SqsManagedSseEnabled"] == "true"
        assert "KmsMasterKeyId" not in queue.attributes()


def test_key_policies_grant_nothing_beyond_the_publishers() -> None:
    model = _model()
    publishers = {
        f"arn:aws:iam::{ACCOUNT}:role/{r.name}"
        for r in model.of_type(Role)
        if any("sns:Publish" in _actions(s) for s in json.loads(r.document)["Statement"])
    }
    for key in model.of_type(KmsKey):
        for statement in json.loads(key.document)["Statement"]:
            assert statement["Principal"] != "*"
            assert statement["Principal"] != {"AWS": "*"}
            actions = _actions(statement)
            assert not any(a.endswith("*") for a in actions), statement["Sid"]
            if statement["Sid"] == "KeyAdministration":
                # The account manages the key but cannot encrypt or decrypt through this statement.
                assert not {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"} & set(actions)
                continue
            assert sorted(actions) == ["kms:Decrypt", "kms:GenerateDataKey"]
            principals = statement["Principal"].get("AWS", [])
            for principal in [principals] if isinstance(principals, str) else principals:
                assert principal in publishers
            condition = statement["Condition"]
            if "AWS" in statement["Principal"]:
                assert condition["StringEquals"]["kms:ViaService"] == f"sns.{REGION}.amazonaws.com"
                assert condition["StringEquals"][security.TOPIC_CONTEXT_KEY].startswith("arn:aws:sns:")
    # A publisher removed from a key policy is caught by key_allows (the check above can fail).
    topic = model.get("NotifyTopic")
    assert isinstance(topic, Topic)
    assert not security.key_allows(
        _key_policy(model, topic),
        principal=f"arn:aws:iam::{ACCOUNT}:role/someone-else",
        service=False,
        topic_arn=f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic.name}",
    )
    # ... and a key statement for one topic does not cover another.
    booking_publisher = f"arn:aws:iam::{ACCOUNT}:role/picops-booking-api-{REGION}"
    assert not security.key_allows(
        _key_policy(model, topic),
        principal=booking_publisher,
        service=False,
        topic_arn=f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic.name}",
    )


def test_keys_wait_for_the_roles_they_name() -> None:
    model = _model()
    order = [r.logical for r in model.ordered()]
    for key in model.of_type(KmsKey):
        assert key.principals
        for role in key.principals:
            assert order.index(role) < order.index(key.logical)


def test_access_logging_into_a_stack_log_bucket() -> None:
    model = _model()
    logs = model.get("AccessLogsBucket")
    assert isinstance(logs, Bucket)
    assert logs.desired()["ExpirationDays"] == 90
    assert logs.desired()["Logging"] is None
    for logical in ("UploadsBucket", "ProcessedBucket"):
        bucket = model.get(logical)
        assert isinstance(bucket, Bucket)
        assert bucket.desired()["Logging"] == {"TargetBucket": logs.name, "TargetPrefix": bucket.log_prefix}
        assert {"AccessLogsBucket", "AccessLogsBucketPolicy"} <= set(bucket.depends_on)
    policy = model.get("AccessLogsBucketPolicy")
    assert isinstance(policy, BucketPolicy)
    statements = {s["Sid"]: s for s in json.loads(policy.document)["Statement"]}
    allow = statements["S3ServerAccessLogsPolicy"]
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert allow["Resource"] == f"arn:aws:s3:::{logs.name}/*"
    assert sorted(allow["Condition"]["ArnLike"]["aws:SourceArn"]) == sorted(
        f"arn:aws:s3:::{model.get(b).name}" for b in ("UploadsBucket", "ProcessedBucket")
    )
    assert allow["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
    assert statements["DenyInsecureTransport"]["Effect"] == "Deny"

    shorter = _model(stack={"access_log_days": 30})
    assert shorter.get("AccessLogsBucket").desired()["ExpirationDays"] == 30

    off = _model(stack={"access_logs": False})
    assert "AccessLogsBucket" not in off
    assert "AccessLogsBucketPolicy" not in off
    assert off.get("UploadsBucket").desired()["Logging"] is None


def test_access_log_days_is_validated() -> None:
    with pytest.raises(ConfigError, match="access_log_days"):
        load_settings(overrides={"stack": {"access_log_days": 0}}, use_files=False)


def test_pitr_on_an_owned_moderation_table_only() -> None:
    table = _model().get("ModerationTable")
    assert isinstance(table, Table)
    assert table.desired()["PointInTimeRecovery"] is True
    external = _model(moderation={"external": True}).get("ModerationTable")
    assert isinstance(external, Table)
    assert "PointInTimeRecovery" not in external.desired()


def test_bookings_api_stage_logs_and_throttles() -> None:
    model = _model(bookings={"api_rate": 12.5, "api_burst": 40}, deploy={"log_retention_days": 30})
    api = model.get("BookingsApi")
    assert isinstance(api, HttpApi)
    logs = model.get("BookingsApiAccessLogs")
    assert logs.desired() == {"RetentionInDays": 30}
    assert api.access_log_arn == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{logs.name}"
    desired = api.desired()
    assert desired["AccessLogDestination"] == api.access_log_arn
    assert desired["ThrottlingRateLimit"] == 12.5
    assert desired["ThrottlingBurstLimit"] == 40
    fmt = json.loads(api.stage_settings()["AccessLogSettings"]["Format"])
    assert fmt["requestId"] == "$context.requestId"
    assert "BookingsApiAccessLogs" in api.depends_on


@pytest.mark.parametrize(("authorizer", "route_type"), [("none", "NONE"), ("iam", "AWS_IAM")])
def test_authorizer_setting_reaches_every_route(authorizer: str, route_type: str) -> None:
    model = _model(bookings={"authorizer": authorizer})
    routes = model.of_type(ApiRoute)
    assert len(routes) == 2
    assert {r.authorization_type for r in routes} == {route_type}
    assert model.of_type(ApiAuthorizer) == []


def test_jwt_authorizer() -> None:
    issuer = "https://idp.example.com/pool"
    model = _model(bookings={"authorizer": "jwt", "jwt_issuer": issuer, "jwt_audience": ("app",)})
    (authorizer,) = model.of_type(ApiAuthorizer)
    assert authorizer.desired()["JwtConfiguration"] == {"Issuer": issuer, "Audience": ["app"]}
    for route in model.of_type(ApiRoute):
        assert route.authorization_type == "JWT"
        assert route.authorizer == authorizer.logical
        assert authorizer.logical in route.depends_on


@pytest.mark.parametrize(
    "bookings",
    [
        {"authorizer": "jwt"},
        {"authorizer": "jwt", "jwt_issuer": "https://idp.example.com"},
        {"authorizer": "jwt", "jwt_issuer": "http://idp.example.com", "jwt_audience": ("a",)},
        {"authorizer": "cognito"},
        {"api_rate": 0},
    ],
)
def test_bad_bookings_security_settings_are_refused(bookings: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        load_settings(overrides={"bookings": bookings}, use_files=False)


def test_open_api_warns_on_real_aws_only() -> None:
    (warning,) = security_warnings(_model())
    assert "ANYONE" in warning
    assert "authorizer" in warning
    assert security_warnings(_model(local=True)) == []
    assert security_warnings(_model(bookings={"authorizer": "iam"})) == []


def test_sweep_schedule_retries_then_dead_letters_into_an_alarmed_sweep_dlq() -> None:
    model = _model()
    rule = model.get("SweepSchedule")
    assert isinstance(rule, ScheduleRule)
    dlq = model.get("SweepDLQ")
    assert isinstance(dlq, Queue)
    assert dlq.attributes()["SqsManagedSseEnabled"] == "true"
    (target,) = rule.desired()["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 3600
    assert target["DeadLetterConfig"] == {"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{dlq.name}"}
    assert {"SweepDLQ", "SweepDLQPolicy"} <= set(rule.depends_on)
    policy = model.get("SweepDLQPolicy")
    assert isinstance(policy, QueuePolicy)
    (statement,) = json.loads(policy.document)["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule.name}"}
    }
    alarms = [a for a in model.of_type(Alarm) if a.watches == "SweepDLQ"]
    assert alarms, "SweepDLQ has no alarm"
    assert "SweepDLQ" in DLQ_SOURCES  # what `dlq list` lists


def test_preflight_refuses_a_key_policy_that_would_drop_a_publisher() -> None:
    import dataclasses

    from picops.provision.preflight import check_model
    from picops.stack.model import frozen_json

    model = _model()
    assert check_model(model) == []
    for key_logical, sid, who in (
        ("TopicsKey", "PublishNotifyTopic", "IngestFunctionRole"),
        ("AlertsKey", "CloudwatchPublishAlertsTopic", "CloudWatch alarms"),
    ):
        key = model.get(key_logical)
        assert isinstance(key, KmsKey)
        policy = json.loads(key.document)
        policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != sid]
        broken = dataclasses.replace(key, document=frozen_json(policy))
        resources = tuple(broken if r.logical == key_logical else r for r in model.resources)
        problems = check_model(StackModel(model.stack, model.account, model.region, model.local, resources))
        assert problems
        assert all(key_logical in p for p in problems)
        assert any(who in p for p in problems), problems
