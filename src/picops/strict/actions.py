"""What IAM checks for a request: the action(s) AWS authorises it with and the resource ARN(s) they apply to.

The action names, which resource types each action is authorised on, and the ARN format of every resource
type come from AWS's Service Authorization Reference as parliament ships it (`parliament.iam_definition`),
not typed here. What is typed here is only what that reference does not say: the few operations whose IAM
action has another name (HeadObject is s3:GetObject), operations that need several actions (a DynamoDB
transaction needs each item's write action on each table; GetObjectAttributes needs s3:GetObject too), and how
each request parameter fills an ARN's variables (a QueueUrl's last segment is the QueueName).

An operation whose action the reference does not know raises `UnknownOperation`: strict mode never guesses.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

# boto3 service name -> IAM service prefix, where they differ.
PREFIXES = {"dynamodbstreams": "dynamodb", "apigatewayv2": "apigateway", "s3control": "s3"}

# Operations whose IAM action is named differently from the API operation.
ACTION_NAMES: dict[tuple[str, str], str] = {
    ("s3", "HeadObject"): "GetObject",
    ("s3", "HeadBucket"): "ListBucket",
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "ListObjectVersions"): "ListBucketVersions",
    ("s3", "GetBucketNotificationConfiguration"): "GetBucketNotification",
    ("s3", "PutBucketNotificationConfiguration"): "PutBucketNotification",
    ("s3", "GetBucketLifecycleConfiguration"): "GetLifecycleConfiguration",
    ("s3", "PutBucketLifecycleConfiguration"): "PutLifecycleConfiguration",
    ("s3", "GetBucketEncryption"): "GetEncryptionConfiguration",
    ("s3", "PutBucketEncryption"): "PutEncryptionConfiguration",
    ("s3", "GetPublicAccessBlock"): "GetBucketPublicAccessBlock",
    ("s3", "PutPublicAccessBlock"): "PutBucketPublicAccessBlock",
    ("s3", "DeleteBucketEncryption"): "PutEncryptionConfiguration",
    ("s3", "DeleteBucketLifecycle"): "PutLifecycleConfiguration",
    ("s3", "CreateMultipartUpload"): "PutObject",
    ("s3", "UploadPart"): "PutObject",
    ("s3", "CompleteMultipartUpload"): "PutObject",
    ("sqs", "SendMessageBatch"): "SendMessage",
    ("sqs", "DeleteMessageBatch"): "DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "ChangeMessageVisibility",
    ("lambda", "Invoke"): "InvokeFunction",
    ("lambda", "InvokeAsync"): "InvokeFunction",
    ("lambda", "GetFunctionConfiguration"): "GetFunctionConfiguration",
    ("lambda", "PublishVersion"): "PublishVersion",
    ("logs", "StartLiveTail"): "StartLiveTail",
}
# Actions with a version-specific twin, authorised instead when the request names a VersionId.
VERSION_ACTIONS = {
    "s3:GetObject": "s3:GetObjectVersion",
    "s3:GetObjectTagging": "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging": "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging": "s3:DeleteObjectVersionTagging",
    "s3:DeleteObject": "s3:DeleteObjectVersion",
    "s3:GetObjectAttributes": "s3:GetObjectVersionAttributes",
}
# Operations AWS answers for any principal.
UNAUTHORISED = {("sts", "GetCallerIdentity")}


class UnknownOperation(LookupError):
    """The Service Authorization Reference has no action for this operation (map it in ACTION_NAMES)."""


@dataclass(frozen=True)
class Request:
    service: str  # boto3's service name (`s3`, `dynamodb`, `apigatewayv2`)
    operation: str  # the API operation (`GetObject`)
    params: dict[str, Any]
    region: str
    account: str
    partition: str = "aws"
    http_method: str = ""
    request_uri: str = ""


@dataclass(frozen=True)
class Need:
    action: str
    resource: str


@dataclass(frozen=True)
class _Privilege:
    required: tuple[str, ...]  # resource types the action must be authorised on
    optional: tuple[str, ...]  # resource types it applies to when the request names one


@functools.cache
def _reference() -> tuple[dict[str, dict[str, _Privilege]], dict[str, dict[str, str]]]:
    """(prefix -> action -> privilege, prefix -> resource type -> ARN template), read once."""
    from parliament import iam_definition  # type: ignore[import-untyped]  # only local mode needs it

    privileges: dict[str, dict[str, _Privilege]] = {}
    templates: dict[str, dict[str, str]] = {}
    for service in iam_definition:
        prefix = service["prefix"]
        templates.setdefault(prefix, {}).update({r["resource"]: r["arn"] for r in service["resources"]})
        table = privileges.setdefault(prefix, {})
        for privilege in service["privileges"]:
            types = [r["resource_type"] for r in privilege["resource_types"]]
            required = tuple(t.rstrip("*") for t in types if t.endswith("*"))
            optional = tuple(t for t in types if t and not t.endswith("*"))
            table[privilege["privilege"].lower()] = _Privilege(required, optional)
    return privileges, templates


def known_action(action: str) -> bool:
    prefix, _, name = action.partition(":")
    return name.lower() in _reference()[0].get(prefix, {})


def needs(request: Request) -> list[Need]:
    """Every (action, resource) AWS checks before it serves `request`."""
    key = (request.service, request.operation)
    if key in UNAUTHORISED:
        return []
    if request.service == "apigatewayv2":
        return _api_gateway(request) + _access_log_delivery(request)
    special = SPECIAL.get(key)
    if special is not None:
        return special(request) + _passed_role(request)
    return _needs_for(request, action_of(request), request.params) + _passed_role(request)


# Requests that hand a role to a service: AWS authorises iam:PassRole on that role as well (the reference's
# dependent action), with iam:PassedToService naming the service that will assume it.
PASSES_ROLE: dict[tuple[str, str], tuple[str, str]] = {
    ("lambda", "CreateFunction"): ("Role", "lambda.amazonaws.com"),
    ("lambda", "UpdateFunctionConfiguration"): ("Role", "lambda.amazonaws.com"),
    ("s3control", "CreateJob"): ("RoleArn", "batchoperations.s3.amazonaws.com"),
}
# Turning on an API Gateway stage's access log is a CloudWatch Logs "vended log" delivery: the caller needs
# the delivery actions (on *: a delivery has no ARN) and the resource-policy actions that let the service
# write to the group.
ACCESS_LOG_DELIVERY = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
)


def _passed_role(request: Request) -> list[Need]:
    passes = PASSES_ROLE.get((request.service, request.operation))
    role = request.params.get(passes[0]) if passes else None
    return [Need("iam:PassRole", role)] if isinstance(role, str) and role else []


def _access_log_delivery(request: Request) -> list[Need]:
    if request.operation not in ("CreateStage", "UpdateStage") or not request.params.get("AccessLogSettings"):
        return []
    return [Need(action, "*") for action in ACCESS_LOG_DELIVERY]


def action_of(request: Request) -> str:
    prefix = PREFIXES.get(request.service, request.service)
    name = ACTION_NAMES.get((request.service, request.operation), request.operation)
    action = f"{prefix}:{name}"
    if not known_action(action):
        raise UnknownOperation(
            f"{request.service}:{request.operation} has no IAM action {action} in the reference"
        )
    return action


def _needs_for(request: Request, action: str, params: dict[str, Any]) -> list[Need]:
    if params.get("VersionId") and action in VERSION_ACTIONS:
        action = VERSION_ACTIONS[action]
    prefix, _, name = action.partition(":")
    privilege = _reference()[0][prefix][name.lower()]
    types = privilege.required or privilege.optional
    if not types:
        return [Need(action, "*")]
    arns = [arn for t in types if (arn := _arn(request, prefix, t, params)) is not None]
    # A request that names none of its required resources is checked against "*" (only a statement on "*"
    # grants it): strictness shows the gap instead of guessing an ARN.
    return [Need(action, arn) for arn in (arns[:1] or ["*"])]


def _arn(request: Request, prefix: str, resource_type: str, params: dict[str, Any]) -> str | None:
    template = _reference()[1].get(prefix, {}).get(resource_type)
    if template is None:
        return None
    given = _given_arn(prefix, resource_type, params)
    if given is not None:
        return given
    values = {"Partition": request.partition, "Region": request.region, "Account": request.account}
    values.update(_variables(prefix, params))
    missing = [v for v in re.findall(r"\$\{(\w+)\}", template) if v not in values]
    if missing:
        return None
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], template)


# Parameters that already are the resource's ARN, by (prefix, resource type).
_ARN_PARAMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("sns", "topic"): ("TopicArn", "TargetArn"),
    ("dynamodb", "stream"): ("StreamArn",),
    ("lambda", "function"): ("FunctionName", "Resource"),  # Resource: the tagging calls
    ("cloudwatch", "alarm"): ("AlarmArn",),
    ("sqs", "queue"): ("SourceArn",),  # message move tasks are authorised on their source queue
}


def _given_arn(prefix: str, resource_type: str, params: dict[str, Any]) -> str | None:
    if prefix == "sqs" and isinstance(params.get("TaskHandle"), str):
        return _move_task_source(params["TaskHandle"])
    for name in _ARN_PARAMS.get((prefix, resource_type), ()):
        value = params.get(name)
        if isinstance(value, str) and value.startswith("arn:"):
            if prefix == "lambda":
                # function:<name>[:<qualifier>]: the function's own ARN is what "function" means.
                parts = value.split(":")
                return ":".join(parts[:7])
            return value
    return None


def _move_task_source(handle: str) -> str | None:
    """A message move task's handle is base64 JSON naming its source queue, on which AWS authorises it."""
    try:
        decoded = json.loads(base64.b64decode(handle + "=" * (-len(handle) % 4)))
    except (ValueError, TypeError):
        return None
    source = decoded.get("sourceArn") if isinstance(decoded, dict) else None
    return source if isinstance(source, str) and source.startswith("arn:") else None


def _variables(prefix: str, params: dict[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for source, variable in _PARAM_VARIABLES.get(prefix, ()):
        value = params.get(source)
        if isinstance(value, str) and value:
            values.setdefault(variable, value)
    if prefix == "sqs" and isinstance(params.get("QueueUrl"), str):
        values["QueueName"] = unquote(urlsplit(params["QueueUrl"]).path.rstrip("/").rsplit("/", 1)[-1])
    if prefix == "sns" and isinstance(params.get("TopicArn"), str):
        values["TopicName"] = params["TopicArn"].rsplit(":", 1)[-1]
    if prefix == "ssm" and "Name" in params:
        values["ParameterNameWithoutLeadingSlash"] = str(params["Name"]).lstrip("/")
    if prefix == "ssm" and "Path" in params:
        values["ParameterNameWithoutLeadingSlash"] = str(params["Path"]).strip("/")
    if prefix == "kms" and isinstance(params.get("AliasName"), str):
        values["Alias"] = params["AliasName"].removeprefix("alias/")
    key_id = params.get("KeyId") or params.get("TargetKeyId")
    if prefix == "kms" and isinstance(key_id, str):
        # A key named by its alias is authorised on the key the alias points to, which only KMS knows:
        # strict mode checks "some key of this account and region" (`key/*`), what picops's policy grants.
        values["KeyId"] = (
            "*" if key_id.startswith("alias/") or ":alias/" in key_id else key_id.rsplit("/", 1)[-1]
        )
    return values


_PARAM_VARIABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "s3": (("Bucket", "BucketName"), ("Key", "ObjectName"), ("JobId", "JobId")),
    "sqs": (("QueueName", "QueueName"),),
    "sns": (("Name", "TopicName"),),
    "dynamodb": (("TableName", "TableName"), ("IndexName", "IndexName")),
    "lambda": (("FunctionName", "FunctionName"), ("UUID", "UUID")),
    "logs": (("logGroupName", "LogGroupName"), ("logStreamName", "LogStreamName")),
    "iam": (("RoleName", "RoleNameWithPath"),),
    "cloudwatch": (("DashboardName", "DashboardName"), ("AlarmName", "AlarmName")),
    "events": (("Name", "RuleName"), ("Rule", "RuleName"), ("EventBusName", "EventBusName")),
}


# -- operations needing more than one action, or per-entry resources ---------------------------------------


def _object_attributes(request: Request) -> list[Need]:
    # AWS authorises GetObjectAttributes with s3:GetObject as well (the Version pair for a named version).
    read = _needs_for(request, "s3:GetObject", request.params)
    return read + _needs_for(request, "s3:GetObjectAttributes", request.params)


def _delete_objects(request: Request) -> list[Need]:
    out: list[Need] = []
    for entry in (request.params.get("Delete") or {}).get("Objects", []):
        out += _needs_for(request, "s3:DeleteObject", {"Bucket": request.params.get("Bucket"), **entry})
    return _unique(out)


def _per_table(action: str) -> Callable[[Request], list[Need]]:
    def needs(request: Request) -> list[Need]:
        tables = request.params.get("RequestItems") or {}
        return _unique(n for t in tables for n in _needs_for(request, action, {"TableName": t}))

    return needs


_TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


def _transact(request: Request) -> list[Need]:
    out: list[Need] = []
    for item in request.params.get("TransactItems", []):
        for kind, body in item.items():
            out += _needs_for(request, _TRANSACT_ACTIONS[kind], {"TableName": body.get("TableName")})
    return _unique(out)


def _api_gateway(request: Request) -> list[Need]:
    # API Gateway authorises by HTTP method on the resource path: apigateway:GET on /apis/{id}/routes ...
    method = request.http_method or ("GET" if request.operation.startswith("Get") else "POST")
    path = _api_path(request)
    arn = f"arn:{request.partition}:apigateway:{request.region}::{path}"
    return [Need(f"apigateway:{method}", arn)]


def _api_path(request: Request) -> str:
    uri = request.request_uri.split("?", 1)[0]
    path = re.sub(r"\{(\w+)\}", lambda m: str(request.params.get(m.group(1), m.group(0))), uri)
    return path.replace("/v2/", "/", 1) if path.startswith("/v2/") else path


def _per_name(action: str, param: str, variable_param: str) -> Callable[[Request], list[Need]]:
    """An operation taking a list of names (AlarmNames, DashboardNames): one need per name."""

    def needs(request: Request) -> list[Need]:
        names = request.params.get(param) or []
        if not names:
            return _needs_for(request, action, {})
        return _unique(n for name in names for n in _needs_for(request, action, {variable_param: name}))

    return needs


def _unique(needs: Iterable[Need]) -> list[Need]:
    return list(dict.fromkeys(needs))


SPECIAL: dict[tuple[str, str], Callable[[Request], list[Need]]] = {
    ("s3", "GetObjectAttributes"): _object_attributes,
    ("s3", "DeleteObjects"): _delete_objects,
    ("dynamodb", "BatchGetItem"): _per_table("dynamodb:BatchGetItem"),
    ("dynamodb", "BatchWriteItem"): _per_table("dynamodb:BatchWriteItem"),
    ("dynamodb", "TransactWriteItems"): _transact,
    ("dynamodb", "TransactGetItems"): _transact,
    ("cloudwatch", "DescribeAlarms"): _per_name("cloudwatch:DescribeAlarms", "AlarmNames", "AlarmName"),
    ("cloudwatch", "DeleteAlarms"): _per_name("cloudwatch:DeleteAlarms", "AlarmNames", "AlarmName"),
    # A Logs Insights query is authorised on every log group it names.
    ("logs", "StartQuery"): _per_name("logs:StartQuery", "logGroupNames", "logGroupName"),
    ("cloudwatch", "DeleteDashboards"): _per_name(
        "cloudwatch:DeleteDashboards", "DashboardNames", "DashboardName"
    ),
}


def context_of(request: Request) -> dict[str, list[str]]:
    """The request's service-specific condition keys that picops's policies test (docs/security.md)."""
    params = request.params
    context: dict[str, list[str]] = {}
    listing = request.operation in ("ListObjects", "ListObjectsV2", "ListObjectVersions")
    if request.service == "s3" and listing and isinstance(params.get("Prefix"), str):
        context["s3:prefix"] = [params["Prefix"]]
    passes = PASSES_ROLE.get((request.service, request.operation))
    if passes and request.params.get(passes[0]):
        context["iam:PassedToService"] = [passes[1]]
    if request.service == "lambda" and "EventSourceMapping" in request.operation:
        function = params.get("FunctionName")
        if isinstance(function, str):
            arn = function
            if not function.startswith("arn:"):
                base = f"arn:{request.partition}:lambda:{request.region}:{request.account}:function:"
                arn = base + function
            context["lambda:FunctionArn"] = [arn]
    return context


__all__ = ["Need", "Request", "UnknownOperation", "action_of", "context_of", "known_action", "needs"]


# --- dynamodb:LeadingKeys -----------------------------------------------------------------------------
# AWS sets dynamodb:LeadingKeys to the partition-key values a request touches on a table. Which attribute is
# the partition key is the table's own fact, so the caller supplies it (the guard reads it from the endpoint).
_KEY_OPERATIONS = {"GetItem": "Key", "DeleteItem": "Key", "UpdateItem": "Key", "PutItem": "Item"}
_EQUALS = re.compile(r"(#?[\w.]+)\s*=\s*(:\w+)")


def table_of(resource: str) -> str | None:
    """The table a DynamoDB resource ARN names (`table/NAME`, `table/NAME/index/...`, `.../stream/...`)."""
    _, _, rest = resource.partition(":table/")
    return rest.split("/", 1)[0] or None


def leading_keys(request: Request, table: str, hash_key: str) -> list[str]:
    """The partition-key values `request` touches on `table` (none for a Scan or a table-level call)."""
    params = request.params
    items: list[Any] = []
    if request.operation in _KEY_OPERATIONS and params.get("TableName") == table:
        items = [params.get(_KEY_OPERATIONS[request.operation])]
    elif request.operation == "BatchGetItem":
        items = list(((params.get("RequestItems") or {}).get(table) or {}).get("Keys", []))
    elif request.operation == "BatchWriteItem":
        for entry in (params.get("RequestItems") or {}).get(table) or []:
            items.append(
                (entry.get("PutRequest") or {}).get("Item") or (entry.get("DeleteRequest") or {}).get("Key")
            )
    elif request.operation in ("TransactWriteItems", "TransactGetItems"):
        for entry in params.get("TransactItems", []):
            for body in entry.values():
                if body.get("TableName") == table:
                    items.append(body.get("Item") or body.get("Key"))
    elif request.operation == "Query" and params.get("TableName") == table:
        return _query_keys(params, hash_key)
    return _unique_values(_scalar(item.get(hash_key)) for item in items if isinstance(item, dict))


def _query_keys(params: dict[str, Any], hash_key: str) -> list[str]:
    names = params.get("ExpressionAttributeNames") or {}
    values = params.get("ExpressionAttributeValues") or {}
    found = []
    for name, value in _EQUALS.findall(str(params.get("KeyConditionExpression", ""))):
        if names.get(name, name) == hash_key:
            found.append(_scalar(values.get(value)))
    return _unique_values(found)


def _scalar(value: Any) -> str | None:
    """A key attribute's value as the condition compares it: the string form of an S, N or B value."""
    if isinstance(value, dict) and len(value) == 1:
        ((kind, inner),) = value.items()
        if kind in ("S", "N", "B") and not isinstance(inner, (dict, list)):
            return inner.decode() if isinstance(inner, bytes) else str(inner)
    if isinstance(value, (str, int, float)):
        return str(value)  # the resource layer's plain values
    return None


def _unique_values(values: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v is not None))
