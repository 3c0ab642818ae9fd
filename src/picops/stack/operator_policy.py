"""The IAM policy picops itself needs to run against one stack (`picops provision --print-policy`).

Generated from the same model provision applies: for each resource, the calls the planner (describe/list),
the executor (create/update), status, destroy and the operating commands (deploy, dlq, tag-backfill) make,
on that resource's ARN. The few actions AWS authorises only on `*` are listed on their own, each with why;
event source mappings, which AWS authorises by function, are scoped with the `lambda:FunctionArn`
condition. Attach it to the role or user that runs picops (CI, an operator's SSO permission set).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from picops.stack.builders.releases import CUSTOM_CONFIG_PREFIX, PREDEFINED_CONFIGS
from picops.stack.local_mappings import LOCAL_MAPPING_PATH
from picops.stack.model import (
    Alarm,
    Bucket,
    CodeDeployApplication,
    CodeDeployGroup,
    Dashboard,
    EventSourceMapping,
    FunctionSpec,
    KmsKey,
    LogGroup,
    Queue,
    Role,
    ScheduleRule,
    StackModel,
    Table,
    Topic,
)
from picops.stack.names import build_arn, s3_arn
from picops.stack.state_objects import INGEST_OUTPUT_PREFIX

BUCKET_ACTIONS = (
    "s3:CreateBucket",
    "s3:DeleteBucket",
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:GetBucketPublicAccessBlock",
    "s3:PutBucketPublicAccessBlock",
    "s3:GetEncryptionConfiguration",
    "s3:PutEncryptionConfiguration",
    "s3:GetBucketVersioning",
    "s3:PutBucketVersioning",
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:GetBucketNotification",
    "s3:PutBucketNotification",
    "s3:GetBucketLogging",
    "s3:PutBucketLogging",
    "s3:GetLifecycleConfiguration",
    "s3:PutLifecycleConfiguration",
)
OBJECT_ACTIONS = (
    "s3:GetObject",
    "s3:PutObject",
    # destroy deletes every version by its id (an unversioned object's is "null"): no s3:DeleteObject.
    "s3:DeleteObjectVersion",
    "s3:GetObjectTagging",
    "s3:PutObjectTagging",
    "s3:GetObjectVersionTagging",
    "s3:PutObjectVersionTagging",
)
QUEUE_ACTIONS = (
    "sqs:CreateQueue",
    "sqs:DeleteQueue",
    "sqs:GetQueueUrl",
    "sqs:GetQueueAttributes",
    "sqs:SetQueueAttributes",
    "sqs:ListDeadLetterSourceQueues",
    "sqs:ReceiveMessage",
    "sqs:SendMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:PurgeQueue",
    "sqs:StartMessageMoveTask",
    "sqs:ListMessageMoveTasks",
    "sqs:CancelMessageMoveTask",
)
TABLE_ACTIONS = (
    "dynamodb:CreateTable",
    "dynamodb:DeleteTable",
    "dynamodb:DescribeTable",
    "dynamodb:UpdateTable",
    "dynamodb:DescribeContinuousBackups",
    "dynamodb:UpdateContinuousBackups",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",  # destroy's emptiness check, `bookings inspect`, the outbox sweep, `health`'s counts
    "dynamodb:PutItem",  # the CLI's own writes: tag-backfill's ledger, ingest reprocess, bookings republish
    "dynamodb:UpdateItem",
    "dynamodb:BatchWriteItem",
)
TOPIC_ACTIONS = (
    "sns:CreateTopic",
    "sns:DeleteTopic",
    "sns:GetTopicAttributes",
    "sns:SetTopicAttributes",
    "sns:Subscribe",
    "sns:ListSubscriptionsByTopic",
    "sns:Publish",  # `bookings republish`, `ingest reprocess` notifications
)
ROLE_ACTIONS = (
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:GetRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:GetRolePolicy",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:ListRolePolicies",
)
# The services the stack's roles are handed to (its functions, and the S3 Batch Operations job role).
PASSED_TO = ("lambda.amazonaws.com", "batchoperations.s3.amazonaws.com", "codedeploy.amazonaws.com")
LOG_GROUP_ACTIONS = (
    "logs:CreateLogGroup",
    "logs:DeleteLogGroup",
    "logs:PutRetentionPolicy",
    "logs:FilterLogEvents",
    # `picops trace`: one Logs Insights query across the stack's log groups (the Service Authorization
    # Reference authorises reading its results on the log groups too).
    "logs:StartQuery",
    "logs:GetQueryResults",
)
FUNCTION_ACTIONS = (
    "lambda:CreateFunction",
    "lambda:DeleteFunction",
    "lambda:GetFunction",
    "lambda:GetFunctionConfiguration",
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
    "lambda:PublishVersion",
    "lambda:ListVersionsByFunction",
    "lambda:CreateAlias",
    "lambda:GetAlias",
    "lambda:UpdateAlias",
    # `deploy`'s release history is kept in the function's tags (provision/release/history.py).
    "lambda:TagResource",
    "lambda:ListTags",
    "lambda:UntagResource",
    "lambda:AddPermission",
    "lambda:RemovePermission",
    "lambda:GetPolicy",
    "lambda:InvokeFunction",
    # Reserved concurrency: read on every plan, set and removed by apply.
    "lambda:GetFunctionConcurrency",
    "lambda:PutFunctionConcurrency",
    "lambda:DeleteFunctionConcurrency",
    # Asynchronous invocation settings (the sweeper's on-failure destination): read, set and removed.
    "lambda:GetFunctionEventInvokeConfig",
    "lambda:PutFunctionEventInvokeConfig",
    "lambda:DeleteFunctionEventInvokeConfig",
)
MAPPING_ACTIONS = (
    "lambda:UpdateEventSourceMapping",
    "lambda:DeleteEventSourceMapping",
)
RULE_ACTIONS = (
    "events:PutRule",
    "events:DescribeRule",
    "events:DeleteRule",
    "events:PutTargets",
    "events:RemoveTargets",
    "events:ListTargetsByRule",
)
ALARM_ACTIONS = ("cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms")
DASHBOARD_ACTIONS = ("cloudwatch:GetDashboard", "cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards")
# The stack's key is found by its alias; its id exists only once CreateKey has made it, so the key actions
# name the account's keys in the region and the alias actions name the stack's alias as well.
KEY_ACTIONS = (
    "kms:DescribeKey",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyRotationStatus",
    "kms:GetKeyPolicy",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
)
# An alias call is authorised on the alias and on the key it points to: both in one statement.
ALIAS_ACTIONS = ("kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias")
API_ACTIONS = ("apigateway:GET", "apigateway:POST", "apigateway:PATCH", "apigateway:DELETE")

# Releases through CodeDeploy (provision/release/codedeploy.py): the application's own actions, each
# function's deployment group's (a deployment is authorised on its group), and the configurations used.
RELEASE_APPLICATION_ACTIONS = (
    "codedeploy:CreateApplication",
    "codedeploy:GetApplication",
    "codedeploy:DeleteApplication",
    "codedeploy:RegisterApplicationRevision",
    "codedeploy:GetApplicationRevision",
)
RELEASE_GROUP_ACTIONS = (
    "codedeploy:CreateDeploymentGroup",
    "codedeploy:GetDeploymentGroup",
    "codedeploy:UpdateDeploymentGroup",
    "codedeploy:DeleteDeploymentGroup",
    "codedeploy:CreateDeployment",
    "codedeploy:GetDeployment",
)

# Actions AWS authorises only on `Resource: "*"`, and why picops calls each.
STAR_ACTIONS: dict[str, str] = {
    "sqs:ListQueues": "`dlq list` finds the stack's queues",
    "logs:DescribeLogGroups": "the planner reads each log group's retention (DescribeLogGroups is not "
    "authorised per log group)",
    "s3:CreateJob": "`tag-backfill --engine batch-operations` creates an S3 Batch Operations job",
    "lambda:ListEventSourceMappings": "the planner finds each mapping by function and source",
    "sns:GetSubscriptionAttributes": "the planner reads each queue subscription's RawMessageDelivery",
    "sns:SetSubscriptionAttributes": "provision sets RawMessageDelivery on the queue subscriptions",
    "sns:Unsubscribe": "destroy removes the queue subscriptions",
    "lambda:GetAccountSettings": "preflight checks reserved concurrency against the account's limit",
    "cloudwatch:GetMetricStatistics": "`tag-backfill --engine batch-operations` sizes the job from the "
    "bucket's object count; `health` and `dlq list` read queue ages and the stream's iterator age "
    "(CloudWatch metrics have no resource ARN)",
    "kms:CreateKey": "provision creates the stack's key (a key ARN exists only after CreateKey)",
    # An HTTP API stage's access log is delivered with the caller's permissions: CloudWatch Logs'
    # delivery and resource-policy actions, which are authorised only on "*".
    "logs:CreateLogDelivery": "provision turns on the HTTP API's access log",
    "logs:GetLogDelivery": "provision reads the HTTP API's access log delivery",
    "logs:UpdateLogDelivery": "provision updates the HTTP API's access log delivery",
    "logs:DeleteLogDelivery": "destroy removes the HTTP API's access log delivery",
    "logs:ListLogDeliveries": "API Gateway lists the deliveries when the stage's access log changes",
    "logs:PutResourcePolicy": "the access log group's resource policy lets API Gateway write to it",
    "logs:DescribeResourcePolicies": "API Gateway checks that resource policy",
    # Saved Logs Insights queries have no ARN (the Service Authorization Reference lists no resource type).
    "logs:DescribeQueryDefinitions": "the planner finds the stack's saved queries by name",
    "logs:PutQueryDefinition": "provision saves the stack's Logs Insights queries",
    "logs:DeleteQueryDefinition": "destroy removes the stack's saved queries",
    # X-Ray traces have no ARN either.
    "xray:GetTraceSummaries": "`trace` on AWS finds the traces annotated with the booking id or object key",
}


def _statement(sid: str, actions: Iterable[str], resources: Iterable[str], **extra: Any) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(set(actions)),
        "Resource": sorted(set(resources)),
        **extra,
    }


# On a local endpoint, which runs no event source mappings, picops records each mapping as a parameter
# (picops/stack/local_mappings.py) for its local runtime to poll, and the runtime keeps its stream
# positions beside them: everything under /picops/<stack>/local/.
LOCAL_RECORD_ACTIONS = (
    "ssm:GetParameter",
    "ssm:PutParameter",
    "ssm:DeleteParameter",
    "ssm:GetParametersByPath",
)


def _inventory_reports(model: StackModel, bucket: str | None) -> list[dict[str, Any]]:
    """`[moderation] inventory_bucket`: tag-backfill reads its S3 Inventory manifests and reports."""
    if not bucket:
        return []
    return [_statement("InventoryReports", ("s3:GetObject",), [s3_arn(model.region, bucket, "*")])]


def _local_mapping_records(model: StackModel) -> list[dict[str, Any]]:
    if not any(m.local for m in model.of_type(EventSourceMapping)):
        return []
    path = LOCAL_MAPPING_PATH.format(stack=model.stack).lstrip("/")
    local = build_arn(model.region, "ssm", model.account, f"parameter/picops/{model.stack}/local")
    base = build_arn(model.region, "ssm", model.account, f"parameter/{path}")
    return [_statement("LocalMappingRecords", LOCAL_RECORD_ACTIONS, [base, f"{local}/*"])]


def _ingest_upkeep(model: StackModel) -> list[dict[str, Any]]:
    """`ingest gc` (renditions of deleted originals, ingest outputs only, and their drop records) and
    `ingest backfill` (the exact version each job names)."""
    region, account = model.region, model.account
    processed = [r.name for r in model.of_type(Bucket) if r.logical == "ProcessedBucket"]
    uploads = [r.name for r in model.of_type(Bucket) if r.logical == "UploadsBucket"]
    jobs = [
        build_arn(region, "dynamodb", account, f"table/{r.name}")
        for r in model.of_type(Table)
        if r.logical == "JobsTable"
    ]
    if not (processed and jobs and uploads):
        return []
    return [
        _statement(
            "IngestOrphanRenditions",
            ("s3:DeleteObject",),
            [s3_arn(region, b, f"{INGEST_OUTPUT_PREFIX}*") for b in processed],
        ),
        _statement("IngestOrphanRecords", ("dynamodb:DeleteItem",), jobs),
        _statement(
            "IngestBackfillOriginals", ("s3:GetObjectVersion",), [s3_arn(region, b, "*") for b in uploads]
        ),
    ]


def _mappings(region: str, account: str, functions: list[str]) -> list[dict[str, Any]]:
    invoking = {"ArnLike": {"lambda:FunctionArn": sorted(f"{f}:*" for f in functions)}}
    return [
        # Mappings have ARNs of their own (UUIDs known only once created): any mapping of this account
        # and region, and only those that invoke the stack's functions (the `live` alias).
        _statement(
            "StackEventSourceMappings",
            MAPPING_ACTIONS,
            [build_arn(region, "lambda", account, "event-source-mapping:*")],
            Condition=invoking,
        ),
        # CreateEventSourceMapping is authorised only on "*", narrowed by the function it would invoke.
        _statement(
            "CreateStackEventSourceMappings", ("lambda:CreateEventSourceMapping",), ["*"], Condition=invoking
        ),
    ]


def _releases(model: StackModel) -> list[dict[str, Any]]:
    apps = model.of_type(CodeDeployApplication)
    if not apps:
        return []  # a local endpoint: no CodeDeploy, picops shifts the traffic itself
    region, account, app = model.region, model.account, apps[0].name
    groups = [
        build_arn(region, "codedeploy", account, f"deploymentgroup:{app}/{g.name}")
        for g in model.of_type(CodeDeployGroup)
    ]
    # CodeDeploy's predefined Lambda configurations (read by a deployment that uses one), and picops's own
    # custom ones (`canary:P%:Mmin`, `linear:P%:Mmin`), which a first use creates.
    config = "deploymentconfig:"
    custom = build_arn(region, "codedeploy", account, f"{config}{CUSTOM_CONFIG_PREFIX}*")
    return [
        _statement(
            "StackReleaseApplication",
            RELEASE_APPLICATION_ACTIONS,
            [build_arn(region, "codedeploy", account, f"application:{app}")],
        ),
        _statement("StackReleaseGroups", RELEASE_GROUP_ACTIONS, groups),
        _statement(
            "ReleaseConfigurations",
            ("codedeploy:GetDeploymentConfig",),
            [
                *(build_arn(region, "codedeploy", account, config + name) for name in PREDEFINED_CONFIGS),
                custom,
            ],
        ),
        _statement("CustomReleaseConfigurations", ("codedeploy:CreateDeploymentConfig",), [custom]),
    ]


def operator_policy(model: StackModel, *, inventory_bucket: str | None = None) -> dict[str, Any]:
    """The identity policy that lets picops plan, apply, inspect, operate and destroy `model`'s stack."""
    region, account = model.region, model.account
    buckets = [r.name for r in model.of_type(Bucket)]
    queues = [build_arn(region, "sqs", account, r.name) for r in model.of_type(Queue)]
    tables = [build_arn(region, "dynamodb", account, f"table/{r.name}") for r in model.of_type(Table)]
    topics = [build_arn(region, "sns", account, r.name) for r in model.of_type(Topic)]
    roles = [build_arn(region, "iam", account, f"role/{r.name}", regional=False) for r in model.of_type(Role)]
    log_groups = [build_arn(region, "logs", account, f"log-group:{r.name}") for r in model.of_type(LogGroup)]
    functions = [
        build_arn(region, "lambda", account, f"function:{r.name}") for r in model.of_type(FunctionSpec)
    ]
    rules = [build_arn(region, "events", account, f"rule/{r.name}") for r in model.of_type(ScheduleRule)]
    alarms = [build_arn(region, "cloudwatch", account, f"alarm:{r.name}") for r in model.of_type(Alarm)]
    # Dashboards are global: no region in their ARN.
    dashboards = [
        build_arn(region, "cloudwatch", account, f"dashboard/{r.name}", regional=False)
        for r in model.of_type(Dashboard)
    ]
    aliases = [build_arn(region, "kms", account, r.name) for r in model.of_type(KmsKey)]
    keys = build_arn(region, "kms", account, "key/*")
    statements = [
        _statement("StackBuckets", BUCKET_ACTIONS, [s3_arn(region, b) for b in buckets]),
        *_ingest_upkeep(model),
        _statement("StackObjects", OBJECT_ACTIONS, [s3_arn(region, b, "*") for b in buckets]),
        _statement("StackQueues", QUEUE_ACTIONS, queues),
        _statement("StackTables", TABLE_ACTIONS, tables),
        _statement("StackTopics", TOPIC_ACTIONS, topics),
        _statement("StackRoles", ROLE_ACTIONS, roles),
        _statement(
            "PassStackRoles",
            ("iam:PassRole",),
            roles,
            Condition={"StringEquals": {"iam:PassedToService": list(PASSED_TO)}},
        ),
        _statement("StackLogGroups", LOG_GROUP_ACTIONS, [*log_groups, *(f"{g}:*" for g in log_groups)]),
        _statement("StackFunctions", FUNCTION_ACTIONS, [*functions, *(f"{f}:*" for f in functions)]),
        *_mappings(region, account, functions),
        _statement("StackSchedule", RULE_ACTIONS, rules),
        _statement("StackAlarms", ALARM_ACTIONS, alarms),
        *([_statement("StackDashboards", DASHBOARD_ACTIONS, dashboards)] if dashboards else []),
        *(
            [
                _statement("StackKeyAliases", ALIAS_ACTIONS, [*aliases, keys]),
                _statement("StackKeys", KEY_ACTIONS, [keys]),
            ]
            if aliases
            else []
        ),
        _statement(
            "StackHttpApi",
            API_ACTIONS,
            [
                build_arn(region, "apigateway", "", "/apis", regional=True),
                build_arn(region, "apigateway", "", "/apis/*", regional=True),
            ],
        ),
        _statement(
            "BatchOperationsJobs",
            ("s3:DescribeJob",),
            [build_arn(region, "s3", account, "job/*")],
        ),
        *_inventory_reports(model, inventory_bucket),
        *_releases(model),
        *_local_mapping_records(model),
        _statement("OnlyOnStar", STAR_ACTIONS, ["*"]),
    ]
    return {"Version": "2012-10-17", "Statement": statements}
