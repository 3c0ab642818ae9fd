"""The stack as one declarative model: frozen dataclasses, one per resource, built from Settings alone.

Nothing here talks to AWS. The planner reads live state for each resource and diffs it against `desired()`;
the executor creates/updates in `depends_on` order; the CloudFormation exporter renders the same objects; IAM
policies are generated from what each function is declared to use (`picops.stack.iam`). Logical names are
the contract listed in docs/provision.md, and everything that hangs off a resource is named after it
(`IngestFunctionRole`, `IngestQueuePolicy`, `IngestFunctionMapping`, `IngestDLQAlarm`).

`desired()` returns the fields the planner compares, keyed by the AWS API's own field names (so a diff reads
like the console: `VisibilityTimeout`, `RawMessageDelivery`). `replace_fields` lists those AWS cannot change
in place.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from picops.functions import FUNCTIONS

# Lambda handler entry points by logical name (contracts; the table is picops.functions.FUNCTIONS).
HANDLERS: dict[str, str] = {f.logical: f.handler for f in FUNCTIONS}

# Queue visibility must outlast every retry of a batch by the consuming function (AWS's own guidance is 6x).
VISIBILITY_FACTOR = 6
QUEUE_RETENTION_S = 4 * 24 * 3600
DLQ_RETENTION_S = 14 * 24 * 3600


def canonical(document: Any) -> Any:
    """A JSON value normalised for comparison (policies come back from AWS as strings, keys reordered)."""
    if isinstance(document, str):
        try:
            return canonical(json.loads(document))
        except ValueError:
            return document
    if isinstance(document, Mapping):
        return {k: canonical(document[k]) for k in sorted(document)}
    if isinstance(document, list | tuple):
        items = [canonical(v) for v in document]
        # A one-element list and a scalar mean the same in IAM policy language.
        return items[0] if len(items) == 1 else items
    return document


def frozen_json(document: Any) -> str:
    """Policies are stored on frozen dataclasses as canonical JSON text (hashable, comparable)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Resource:
    """Base of every modelled resource."""

    TYPE: ClassVar[str] = ""
    # Holds data: destroy refuses it unless --delete-data, and apply never replaces it.
    HOLDS_DATA: ClassVar[bool] = False

    logical: str
    name: str

    @property
    def type(self) -> str:
        return self.TYPE

    @property
    def depends_on(self) -> tuple[str, ...]:
        return ()

    @property
    def replace_fields(self) -> frozenset[str]:
        return frozenset()

    def desired(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Bucket(Resource):
    TYPE: ClassVar[str] = "AWS::S3::Bucket"
    HOLDS_DATA: ClassVar[bool] = True

    versioned: bool = False
    # S3 server access logging into another bucket of the model (logical name, physical name, key prefix);
    # `log_policy` is the target's bucket policy letting the logging service write (needed first).
    log_bucket: str = ""
    log_bucket_name: str = ""
    log_prefix: str = ""
    log_policy: str = ""
    # A lifecycle rule expiring every object (and noncurrent version) after this many days.
    expire_days: int | None = None

    @property
    def depends_on(self) -> tuple[str, ...]:
        return tuple(d for d in (self.log_bucket, self.log_policy) if d)

    def desired(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "PublicAccessBlock": {
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
            "SSEAlgorithm": "AES256",
            # Unversioned buckets report no status; once enabled, versioning can only be suspended.
            "Versioning": "Enabled" if self.versioned else None,
            "Logging": (
                {"TargetBucket": self.log_bucket_name, "TargetPrefix": self.log_prefix}
                if self.log_bucket
                else None
            ),
        }
        if self.expire_days is not None:
            out["ExpirationDays"] = self.expire_days
        return out


@dataclass(frozen=True)
class BucketPolicy(Resource):
    TYPE: ClassVar[str] = "AWS::S3::BucketPolicy"

    bucket: str = ""
    document: str = "{}"

    @property
    def depends_on(self) -> tuple[str, ...]:
        return (self.bucket,)

    def desired(self) -> dict[str, Any]:
        return {"Policy": canonical(self.document)}


@dataclass(frozen=True)
class QueueNotification:
    id: str
    queue_arn: str
    events: tuple[str, ...]
    prefix: str
    suffix: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "QueueArn": self.queue_arn,
            "Events": sorted(self.events),
            "Prefix": self.prefix,
            "Suffix": self.suffix,
        }


@dataclass(frozen=True)
class BucketNotification(Resource):
    """S3 event notifications of one bucket (in CloudFormation, the bucket's NotificationConfiguration)."""

    TYPE: ClassVar[str] = "AWS::S3::BucketNotification"

    bucket: str = ""
    queue: str = ""
    queue_policy: str = ""
    configurations: tuple[QueueNotification, ...] = ()

    @property
    def depends_on(self) -> tuple[str, ...]:
        # S3 test-delivers to the queue when the configuration is saved: the queue policy must exist first.
        return (self.bucket, self.queue, self.queue_policy)

    def desired(self) -> dict[str, Any]:
        return {"QueueConfigurations": sorted((c.as_dict() for c in self.configurations), key=_by_id)}


def _by_id(item: Mapping[str, Any]) -> str:
    return str(item["Id"])


@dataclass(frozen=True)
class Queue(Resource):
    TYPE: ClassVar[str] = "AWS::SQS::Queue"
    HOLDS_DATA: ClassVar[bool] = True

    fifo: bool = False
    visibility_timeout_s: int = 30
    retention_s: int = QUEUE_RETENTION_S
    dlq: str | None = None
    dlq_arn: str | None = None
    max_receive_count: int = 5
    # The function consuming this queue (for the visibility >= 6x timeout check).
    consumer: str | None = None

    @property
    def depends_on(self) -> tuple[str, ...]:
        return (self.dlq,) if self.dlq else ()

    @property
    def replace_fields(self) -> frozenset[str]:
        return frozenset({"FifoQueue"})

    def attributes(self) -> dict[str, str]:
        """The attributes as SQS takes and returns them (strings)."""
        attrs = {
            "VisibilityTimeout": str(self.visibility_timeout_s),
            "MessageRetentionPeriod": str(self.retention_s),
            "SqsManagedSseEnabled": "true",
        }
        if self.fifo:
            attrs["FifoQueue"] = "true"
            # Explicit deduplication ids are not required of publishers: dedupe on the body.
            attrs["ContentBasedDeduplication"] = "true"
        if self.dlq_arn:
            attrs["RedrivePolicy"] = frozen_json(
                {"deadLetterTargetArn": self.dlq_arn, "maxReceiveCount": self.max_receive_count}
            )
        return attrs

    def desired(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.attributes())
        out.setdefault("FifoQueue", "false")
        out.setdefault("RedrivePolicy", None)
        if "RedrivePolicy" in out and out["RedrivePolicy"] is not None:
            out["RedrivePolicy"] = canonical(out["RedrivePolicy"])
        return out


@dataclass(frozen=True)
class QueuePolicy(Resource):
    TYPE: ClassVar[str] = "AWS::SQS::QueuePolicy"

    queue: str = ""
    queue_arn: str = ""
    document: str = "{}"

    @property
    def depends_on(self) -> tuple[str, ...]:
        return (self.queue,)

    def desired(self) -> dict[str, Any]:
        return {"Policy": canonical(self.document)}


@dataclass(frozen=True)
class Table(Resource):
    TYPE: ClassVar[str] = "AWS::DynamoDB::Table"
    HOLDS_DATA: ClassVar[bool] = True

    hash_key: str = "pk"
    range_key: str | None = None
    stream_view: str | None = None
    point_in_time_recovery: bool = False

    @property
    def external(self) -> bool:
        """Owned by someone else (a `ReferencedTable`): never created, changed or deleted."""
        return False

    @property
    def replace_fields(self) -> frozenset[str]:
        return frozenset({"KeySchema"})

    def key_schema(self) -> list[dict[str, str]]:
        keys = [{"AttributeName": self.hash_key, "KeyType": "HASH"}]
        if self.range_key:
            keys.append({"AttributeName": self.range_key, "KeyType": "RANGE"})
        return keys

    def desired(self) -> dict[str, Any]:
        return {
            "KeySchema": self.key_schema(),
            "BillingMode": "PAY_PER_REQUEST",
            "StreamEnabled": self.stream_view is not None,
            "StreamViewType": self.stream_view,
            "SSEEnabled": True,
            "PointInTimeRecovery": self.point_in_time_recovery,
        }


@dataclass(frozen=True)
class ReferencedTable(Table):
    """A table owned by a vendor (`[moderation] external = true`): referenced (its stream required), never
    created, changed or deleted by picops."""

    @property
    def external(self) -> bool:
        return True

    def desired(self) -> dict[str, Any]:
        # Only what picops relies on: the key and a stream carrying images.
        return {"KeySchema": self.key_schema(), "StreamEnabled": True}


@dataclass(frozen=True)
class Topic(Resource):
    TYPE: ClassVar[str] = "AWS::SNS::Topic"

    fifo: bool = False
    # SNS server-side encryption with a stack-owned key (`KmsKey` logical name, and its alias).
    kms_key: str = ""
    kms_key_alias: str = ""

    @property
    def depends_on(self) -> tuple[str, ...]:
        return (self.kms_key,) if self.kms_key else ()

    @property
    def replace_fields(self) -> frozenset[str]:
        return frozenset({"FifoTopic"})

    def attributes(self) -> dict[str, str]:
        out = {"FifoTopic": "true", "ContentBasedDeduplication": "true"} if self.fifo else {}
        if self.kms_key:
            out["KmsMasterKeyId"] = self.kms_key_alias
        return out

    def desired(self) -> dict[str, Any]:
        return {"FifoTopic": "true" if self.fifo else "false", **self.attributes()}


@dataclass(frozen=True)
class Subscription(Resource):
    TYPE: ClassVar[str] = "AWS::SNS::Subscription"

    topic: str = ""
    topic_arn: str = ""
    queue: str = ""
    queue_arn: str = ""
    queue_policy: str = ""
    raw: bool = True

    @property
    def depends_on(self) -> tuple[str, ...]:
        return (self.topic, self.queue, self.queue_policy)

    def desired(self) -> dict[str, Any]:
        return {
            "Protocol": "sqs",
            "Endpoint": self.queue_arn,
            "RawMessageDelivery": "true" if self.raw else "false",
        }


@dataclass(frozen=True)
class Role(Resource):
    """An IAM role with one inline policy. `function` names the function it executes (a Lambda role); a
    role for another service sets `service`, `purpose`, and `source_account` so that only that service
    acting for this account may assume it (the confused-deputy guard)."""

    TYPE: ClassVar[str] = "AWS::IAM::Role"

    function: str = ""
    policy_name: str = "picops"
    document: str = "{}"
    service: str = "lambda.amazonaws.com"
    source_account: str = ""
    purpose: str = ""

    @property
    def description(self) -> str:
        return self.purpose or f"execution role of {self.function}"

    @property
    def trust(self) -> dict[str, Any]:
        statement: dict[str, Any] = {
            "Effect": "Allow",
            "Principal": {"Service": self.service},
            "Action": "sts:AssumeRole",
        }
        if self.source_account:
            statement["Condition"] = {"StringEquals": {"aws:SourceAccount": self.source_account}}
        return {"Version": "2012-10-17", "Statement": [statement]}

    def desired(self) -> dict[str, Any]:
        return {"AssumeRolePolicyDocument": canonical(self.trust), "Policy": canonical(self.document)}


@dataclass(frozen=True)
class LogGroup(Resource):
    TYPE: ClassVar[str] = "AWS::Logs::LogGroup"

    retention_days: int = 14

    def desired(self) -> dict[str, Any]:
        return {"RetentionInDays": self.retention_days}


@dataclass(frozen=True)
class FunctionSpec(Resource):
    """One Lambda function as provision and deploy both see it.

    `environment` is a sorted tuple of pairs so the spec stays hashable and comparable; use `env` for a dict.
    `role` / `log_group` are the logical names of the function's IAM role and log group. Event sources and
    the API invoke the alias `alias` (`live`), which deploy moves.
    """

    TYPE: ClassVar[str] = "AWS::Lambda::Function"

    handler: str = ""
    environment: tuple[tuple[str, str], ...] = ()
    timeout_s: int = 30
    memory_mb: int = 512
    runtime: str = "python3.12"
    architecture: str = "x86_64"
    role: str = ""
    role_arn: str = ""
    log_group: str = ""
    alias: str = "live"
    # `[deploy.functions.<Logical>] reserved_concurrency`: None leaves the function on the unreserved pool.
    reserved_concurrency: int | None = None
    # `[observability] tracing`: X-Ray active tracing.
    tracing: bool = False

    @property
    def tracing_mode(self) -> str:
        return "Active" if self.tracing else "PassThrough"

    @property
    def env(self) -> dict[str, str]:
        return dict(self.environment)

    @property
    def depends_on(self) -> tuple[str, ...]:
        return (self.role, self.log_group)

    def desired(self) -> dict[str, Any]:
        return {
            "Handler": self.handler,
            "Runtime": self.runtime,
            "Timeout": self.timeout_s,
            "MemorySize": self.memory_mb,
            "Architectures": [self.architecture],
            "Role": self.role_arn,
            "Environment": self.env,
            "Alias": self.alias,
            "ReservedConcurrentExecutions": self.reserved_concurrency,
            # Only while tracing is on (a stack without it plans as it always has); read() shows a live
            # Active function as drift once it is turned off.
            **({"TracingConfig": self.tracing_mode} if self.tracing else {}),
        }


@dataclass(frozen=True)
class EventSourceMapping(Resource):
    """`name` is a stable label (mappings have no names in AWS); lookup is by function alias + source ARN."""

    TYPE: ClassVar[str] = "AWS::Lambda::EventSourceMapping"

    function: str = ""
    function_name: str = ""
    alias: str = "live"
    source: str = ""
    source_arn: str = ""
    batch_size: int = 10
    # MaximumBatchingWindowInSeconds; None = not sent (FIFO queues refuse it; streams keep AWS's default).
    batching_window_s: int | None = None
    report_batch_item_failures: bool = False
    starting_position: str | None = None
    bisect_on_error: bool = False
    max_retries: int | None = None
    on_failure_arn: str | None = None
    # ScalingConfig.MaximumConcurrency (SQS sources only): the most concurrent invocations this mapping makes.
    max_concurrency: int | None = None
    # Concurrent batches per shard (stream sources only; 1 keeps per-key order strictly sequential).
    parallelization_factor: int = 1
    # On a local endpoint the mapping is recorded for `picops local run` instead of created (docs/local.md).
    local: bool = False

    @property
    def qualified_function(self) -> str:
        return f"{self.function_name}:{self.alias}"

    @property
    def depends_on(self) -> tuple[str, ...]:
        return (self.function, self.source)

    @property
    def replace_fields(self) -> frozenset[str]:
        return frozenset({"EventSourceArn", "StartingPosition"})

    def desired(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "EventSourceArn": self.source_arn,
            "FunctionName": self.qualified_function,
            "BatchSize": self.batch_size,
            "FunctionResponseTypes": ["ReportBatchItemFailures"] if self.report_batch_item_failures else [],
            "Enabled": True,
        }
        if self.batching_window_s is not None:
            out["MaximumBatchingWindowInSeconds"] = self.batching_window_s
        if self.max_concurrency is not None:
            out["ScalingConfig"] = {"MaximumConcurrency": self.max_concurrency}
        if self.starting_position:
            out["ParallelizationFactor"] = self.parallelization_factor
            out["StartingPosition"] = self.starting_position
            out["BisectBatchOnFunctionError"] = self.bisect_on_error
            out["MaximumRetryAttempts"] = self.max_retries
            out["OnFailureDestination"] = self.on_failure_arn
        return out


@dataclass(frozen=True)
class ScheduleRule(Resource):
    TYPE: ClassVar[str] = "AWS::Events::Rule"

    schedule: str = "rate(1 hour)"
    function: str = ""
    target_arn: str = ""
    target_id: str = "function"
    # EventBridge invokes the target asynchronously: bounded retries, then the event goes to this queue.
    max_retries: int | None = None
    max_event_age_s: int | None = None
    dead_letter: str = ""
    dead_letter_arn: str = ""
    dead_letter_policy: str = ""
    # The configured period when it is finer than `schedule` can say (EventBridge's floor is one minute):
    # the local runtime's scheduler fires at this period; 0 means `schedule`'s own.
    every_s: float = 0
    # What it runs, for the rule's Description.
    purpose: str = "hourly moderation sweep"
    # The target's constant input (JSON) instead of the Scheduled Event: what one function serving several
    # rules needs to know about this one.
    input: str = ""

    @property
    def depends_on(self) -> tuple[str, ...]:
        return (self.function, *(d for d in (self.dead_letter, self.dead_letter_policy) if d))

    def target(self) -> dict[str, Any]:
        """The rule's one target as PutTargets takes it (and ListTargetsByRule returns it)."""
        out: dict[str, Any] = {"Id": self.target_id, "Arn": self.target_arn}
        if self.input:
            out["Input"] = self.input
        if self.max_retries is not None:
            out["RetryPolicy"] = {
                "MaximumRetryAttempts": self.max_retries,
                "MaximumEventAgeInSeconds": self.max_event_age_s or 86400,
            }
        if self.dead_letter_arn:
            out["DeadLetterConfig"] = {"Arn": self.dead_letter_arn}
        return out

    def desired(self) -> dict[str, Any]:
        return {
            "ScheduleExpression": self.schedule,
            "State": "ENABLED",
            "Targets": [self.target()],
        }


@dataclass(frozen=True)
class FunctionInvokeConfig(Resource):
    """How Lambda handles a function alias's asynchronous invocations: bounded retries, then the failed
    invocation's record goes to `on_failure` (sent with the function's execution role). `name` is the
    qualified function name. An EventBridge target's dead-letter queue only receives events that could not
    be delivered; an invocation that raises is retried by Lambda and then dropped unless this is set."""

    TYPE: ClassVar[str] = "AWS::Lambda::EventInvokeConfig"

    function: str = ""
    function_name: str = ""
    alias: str = "live"
    max_retries: int = 2
    max_event_age_s: int = 21600
    on_failure: str = ""
    on_failure_arn: str = ""

    @property
    def depends_on(self) -> tuple[str, ...]:
        return (self.function, *((self.on_failure,) if self.on_failure else ()))

    def desired(self) -> dict[str, Any]:
        return {
            "MaximumRetryAttempts": self.max_retries,
            "MaximumEventAgeInSeconds": self.max_event_age_s,
            "OnFailureDestination": self.on_failure_arn or None,
        }


@dataclass(frozen=True)
class LambdaPermission(Resource):
    """Lets a service invoke a function alias; `name` is the policy statement id."""

    TYPE: ClassVar[str] = "AWS::Lambda::Permission"

    function: str = ""
    function_name: str = ""
    alias: str = "live"
    principal: str = ""
    source_arn: str = ""
    source: str = ""

    @property
    def depends_on(self) -> tuple[str, ...]:
        return (self.function, self.source)

    def desired(self) -> dict[str, Any]:
        return {
            "Action": "lambda:InvokeFunction",
            "Principal": self.principal,
            "SourceArn": self.source_arn,
        }


@dataclass(frozen=True)
class HttpApi(Resource):
    """An HTTP API with its `$default` auto-deploying stage."""

    TYPE: ClassVar[str] = "AWS::ApiGatewayV2::Api"

    # The $default stage's access log group (logical name and ARN) and default route throttling.
    access_log_group: str = ""
    access_log_arn: str = ""
    throttle_rate: float | None = None
    throttle_burst: int | None = None

    @property
    def depends_on(self) -> tuple[str, ...]:
        return (self.access_log_group,) if self.access_log_group else ()

    def stage_settings(self) -> dict[str, Any]:
        """AccessLogSettings / DefaultRouteSettings as CreateStage takes them."""
        out: dict[str, Any] = {}
        if self.access_log_arn:
            out["AccessLogSettings"] = {
                "DestinationArn": self.access_log_arn,
                "Format": API_ACCESS_LOG_FORMAT,
            }
        if self.throttle_rate is not None:
            out["DefaultRouteSettings"] = {
                "ThrottlingRateLimit": float(self.throttle_rate),
                "ThrottlingBurstLimit": int(self.throttle_burst or 0),
            }
        return out

    def desired(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ProtocolType": "HTTP", "Stage": "$default", "AutoDeploy": True}
        settings = self.stage_settings()
        out["AccessLogDestination"] = settings.get("AccessLogSettings", {}).get("DestinationArn")
        routes = settings.get("DefaultRouteSettings", {})
        out["ThrottlingRateLimit"] = routes.get("ThrottlingRateLimit")
        out["ThrottlingBurstLimit"] = routes.get("ThrottlingBurstLimit")
        return out


# One JSON object per request in the BookingsApi access log (API Gateway context variables).
API_ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "integrationError": "$context.integrationErrorMessage",
        "authorizerError": "$context.authorizer.error",
    },
    separators=(",", ":"),
)


@dataclass(frozen=True)
class ApiIntegration(Resource):
    TYPE: ClassVar[str] = "AWS::ApiGatewayV2::Integration"

    api: str = ""
    function: str = ""
    function_arn: str = ""

    @property
    def depends_on(self) -> tuple[str, ...]:
        return (self.api, self.function)

    def desired(self) -> dict[str, Any]:
        return {
            "IntegrationType": "AWS_PROXY",
            "IntegrationUri": self.function_arn,
            "PayloadFormatVersion": "2.0",
        }


@dataclass(frozen=True)
class ApiRoute(Resource):
    """`name` is the route key (`POST /bookings`)."""

    TYPE: ClassVar[str] = "AWS::ApiGatewayV2::Route"

    api: str = ""
    integration: str = ""
    # NONE | AWS_IAM | JWT; with JWT, `authorizer` is the ApiAuthorizer's logical name.
    authorization_type: str = "NONE"
    authorizer: str = ""

    @property
    def depends_on(self) -> tuple[str, ...]:
        return (self.api, self.integration, *((self.authorizer,) if self.authorizer else ()))

    def desired(self) -> dict[str, Any]:
        out = {
            "RouteKey": self.name,
            "Target": self.integration,
            "AuthorizationType": self.authorization_type,
        }
        if self.authorizer:
            out["AuthorizerId"] = self.authorizer
        return out


@dataclass(frozen=True)
class Alarm(Resource):
    TYPE: ClassVar[str] = "AWS::CloudWatch::Alarm"

    namespace: str = ""
    metric: str = ""
    dimensions: tuple[tuple[str, str], ...] = ()
    statistic: str = "Maximum"
    threshold: float = 0.0
    comparison: str = "GreaterThanThreshold"
    period_s: int = 300
    evaluation_periods: int = 1
    topic: str = ""
    topic_arn: str = ""
    watches: str = ""
    # What the alarm means and the first command to run (docs/operating.md lists them all).
    description: str = ""

    @property
    def depends_on(self) -> tuple[str, ...]:
        return (self.topic, self.watches)

    def desired(self) -> dict[str, Any]:
        return {
            "AlarmDescription": self.description,
            "Namespace": self.namespace,
            "MetricName": self.metric,
            "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions],
            "Statistic": self.statistic,
            "Threshold": float(self.threshold),
            "ComparisonOperator": self.comparison,
            "Period": self.period_s,
            "EvaluationPeriods": self.evaluation_periods,
            "AlarmActions": [self.topic_arn],
            "TreatMissingData": "notBreaching",
        }


@dataclass(frozen=True)
class Dashboard(Resource):
    """A CloudWatch dashboard; `body` is its canonical JSON text. Identifiers AWS assigns (the HTTP API's id)
    appear as `${Logical}` placeholders, filled in from live state by the planner and by `Fn::Sub` in the
    CloudFormation export; `references` names those resources (read, and created, first)."""

    TYPE: ClassVar[str] = "AWS::CloudWatch::Dashboard"

    body: str = "{}"
    references: tuple[str, ...] = ()

    @property
    def depends_on(self) -> tuple[str, ...]:
        return self.references

    def desired(self) -> dict[str, Any]:
        return {"DashboardBody": canonical(self.body)}


@dataclass(frozen=True)
class CodeDeployApplication(Resource):
    """The stack's CodeDeploy application (ComputePlatform Lambda): its releases shift traffic server-side."""

    TYPE: ClassVar[str] = "AWS::CodeDeploy::Application"

    def desired(self) -> dict[str, Any]:
        return {"ComputePlatform": "Lambda"}


@dataclass(frozen=True)
class CodeDeployGroup(Resource):
    """One function's deployment group: blue/green with traffic control on its alias `live`, rolled back
    automatically on failure and on any of `alarms` (docs/provision.md, "Safe releases")."""

    TYPE: ClassVar[str] = "AWS::CodeDeploy::DeploymentGroup"

    application: str = ""  # logical
    application_name: str = ""
    function: str = ""  # logical
    service_role: str = ""  # logical
    service_role_arn: str = ""
    alarms: tuple[str, ...] = ()
    config_name: str = "CodeDeployDefault.LambdaAllAtOnce"

    @property
    def depends_on(self) -> tuple[str, ...]:
        return (self.application, self.service_role, self.function)

    @property
    def replace_fields(self) -> frozenset[str]:
        return frozenset({"ApplicationName"})

    def desired(self) -> dict[str, Any]:
        return {
            "ApplicationName": self.application_name,
            "DeploymentConfigName": self.config_name,
            "ServiceRoleArn": self.service_role_arn,
            "DeploymentStyle": {"DeploymentType": "BLUE_GREEN", "DeploymentOption": "WITH_TRAFFIC_CONTROL"},
            "AutoRollbackConfiguration": {
                "Enabled": True,
                "Events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
            },
            "AlarmConfiguration": {
                "Enabled": bool(self.alarms),
                "IgnorePollAlarmFailure": False,
                "Alarms": [{"Name": name} for name in self.alarms],
            },
        }


@dataclass(frozen=True)
class QueryDefinition(Resource):
    """A saved CloudWatch Logs Insights query (docs/operating.md, "Saved queries"): `name` is its name in the
    console's query list, `log_groups` the logical names of the stack's log groups it runs over and
    `log_group_names` their names, in the same order."""

    TYPE: ClassVar[str] = "AWS::Logs::QueryDefinition"

    query: str = ""
    log_groups: tuple[str, ...] = ()
    log_group_names: tuple[str, ...] = ()

    @property
    def depends_on(self) -> tuple[str, ...]:
        return self.log_groups

    def desired(self) -> dict[str, Any]:
        return {"QueryString": self.query, "LogGroupNames": sorted(self.log_group_names)}


@dataclass(frozen=True)
class StackModel:
    """Every resource of one stack in one account and region."""

    stack: str
    account: str
    region: str
    local: bool
    resources: tuple[Resource, ...]
    _index: dict[str, Resource] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for resource in self.resources:
            if resource.logical in self._index:
                raise ValueError(f"duplicate logical name {resource.logical}")
            self._index[resource.logical] = resource
        for resource in self.resources:
            for dep in resource.depends_on:
                if dep not in self._index:
                    raise ValueError(f"{resource.logical} depends on unknown {dep}")

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources)

    def __contains__(self, logical: object) -> bool:
        return logical in self._index

    def get(self, logical: str) -> Resource:
        try:
            return self._index[logical]
        except KeyError:
            raise KeyError(f"unknown logical name {logical!r}") from None

    def of_type(self, kind: type[Resource]) -> list[Any]:
        return [r for r in self.resources if isinstance(r, kind)]

    def functions(self) -> list[FunctionSpec]:
        return self.of_type(FunctionSpec)

    def ordered(self) -> list[Resource]:
        """Dependencies first; ties keep model order (deterministic plans)."""
        done: set[str] = set()
        order: list[Resource] = []
        visiting: set[str] = set()

        def visit(resource: Resource) -> None:
            if resource.logical in done:
                return
            if resource.logical in visiting:
                raise ValueError(f"dependency cycle through {resource.logical}")
            visiting.add(resource.logical)
            for dep in resource.depends_on:
                visit(self._index[dep])
            visiting.discard(resource.logical)
            done.add(resource.logical)
            order.append(resource)

        for resource in self.resources:
            visit(resource)
        return order


# -- security resources (docs/security.md) -------------------------------------------------------------------


@dataclass(frozen=True)
class KmsKey(Resource):
    """A stack-owned customer managed key, found by its alias (`name`, `alias/...`): key ids are assigned by
    KMS. `document` is the key policy; `principals` the logical names of roles it names (they must exist
    before KMS accepts the policy)."""

    TYPE: ClassVar[str] = "AWS::KMS::Key"

    description: str = ""
    document: str = "{}"
    principals: tuple[str, ...] = ()

    @property
    def depends_on(self) -> tuple[str, ...]:
        return self.principals

    def desired(self) -> dict[str, Any]:
        return {"KeyPolicy": canonical(self.document), "KeyRotationEnabled": True, "Enabled": True}


@dataclass(frozen=True)
class ApiAuthorizer(Resource):
    """A JWT authorizer of an HTTP API (`[bookings] authorizer = "jwt"`); `name` is the authorizer name."""

    TYPE: ClassVar[str] = "AWS::ApiGatewayV2::Authorizer"

    api: str = ""
    issuer: str = ""
    audience: tuple[str, ...] = ()
    identity_source: str = "$request.header.Authorization"

    @property
    def depends_on(self) -> tuple[str, ...]:
        return (self.api,)

    def desired(self) -> dict[str, Any]:
        return {
            "AuthorizerType": "JWT",
            "IdentitySource": [self.identity_source],
            "JwtConfiguration": {"Issuer": self.issuer, "Audience": sorted(self.audience)},
        }
