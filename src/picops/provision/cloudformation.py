"""`picops provision --export cloudformation`: the same model rendered as a CloudFormation template.

The model is built with CloudFormation pseudo parameters in place of the account, region and partition, so the
template deploys into any account; strings that contain them become `Fn::Sub`. Function code comes from the
`CodeS3Bucket`/`CodeS3Key` parameters (upload the zip `picops deploy --dry-run` builds). Data-holding
resources are retained on stack deletion and replacement, as picops itself never deletes data implicitly.
"""

from __future__ import annotations

import json
import re
from typing import Any

from picops.config import Settings
from picops.errors import ConfigError
from picops.provision import kinds
from picops.provision.kinds import referenced_table
from picops.provision.kinds._common import CFN_ACCOUNT, CFN_REGION
from picops.stack.build import build_model
from picops.stack.model import (
    ApiAuthorizer,
    ApiIntegration,
    ApiRoute,
    EventSourceMapping,
    FunctionInvokeConfig,
    FunctionSpec,
    HttpApi,
    LambdaPermission,
    ReferencedTable,
    Resource,
    ScheduleRule,
    StackModel,
)

ACCOUNT, REGION = CFN_ACCOUNT, CFN_REGION
_PSEUDO = re.compile(r"\$\{([A-Za-z0-9:.]+)\}")


def template_model(settings: Settings) -> StackModel:
    return build_model(settings, ACCOUNT, REGION, local=False)


_ARN_PARTITION = re.compile(r"^arn:aws(-cn|-us-gov)?:")


def _sub(value: Any) -> Any:
    """Strings naming pseudo parameters or resources become Fn::Sub; the partition is always the pseudo "
    "one."""
    if isinstance(value, dict):
        return {k: _sub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_sub(v) for v in value]
    if isinstance(value, str):
        partition = _ARN_PARTITION.match(value)
        if partition:
            value = "arn:${AWS::Partition}:" + value[partition.end() :]
        if "${" in value:
            return {"Fn::Sub": value}
    return value


def _check_names(model: StackModel) -> None:
    for resource in model:
        name = resource.name
        # A name cut to a service limit may have lost half of a placeholder.
        if name.count("${") != len(_PSEUDO.findall(name)):
            raise ConfigError(
                f"{resource.logical}'s name {name!r} is too long to template with account and region",
                hint="set an explicit name ([ingest] uploads_bucket / processed_bucket) for the export",
            )


def render(model: StackModel, settings: Settings) -> dict[str, Any]:
    _check_names(model)
    resources: dict[str, dict[str, Any]] = {}
    depends: dict[str, set[str]] = {}
    cfn_names: dict[str, str] = {}  # model logical -> template logical (or "" when folded/omitted)

    parameters: dict[str, dict[str, str]] = {}
    for r in model.ordered():
        for logical, extra in kinds.template_depends(r).items():
            depends.setdefault(logical, set()).update(extra)
        parameters.update(kinds.template_parameters(r))
        body = _resource(r, model)
        if body is None:
            cfn_names[r.logical] = ""
            continue
        cfn_names[r.logical] = r.logical
        resources[r.logical] = body
        depends.setdefault(r.logical, set()).update(r.depends_on)
        if r.HOLDS_DATA:
            body["DeletionPolicy"] = "Retain"
            body["UpdateReplacePolicy"] = "Retain"
        if isinstance(r, FunctionSpec):
            resources[f"{r.logical}Version"] = {
                "Type": "AWS::Lambda::Version",
                "Properties": {"FunctionName": {"Ref": r.logical}},
            }
            resources[f"{r.logical}LiveAlias"] = {
                "Type": "AWS::Lambda::Alias",
                "Properties": {
                    "FunctionName": {"Ref": r.logical},
                    "FunctionVersion": {"Fn::GetAtt": [f"{r.logical}Version", "Version"]},
                    "Name": r.alias,
                },
            }
        if isinstance(r, HttpApi):
            stage: dict[str, Any] = {"ApiId": {"Ref": r.logical}, "StageName": "$default", "AutoDeploy": True}
            stage_settings = r.stage_settings()
            if "AccessLogSettings" in stage_settings:
                stage["AccessLogSettings"] = _sub(stage_settings["AccessLogSettings"])
            if "DefaultRouteSettings" in stage_settings:
                stage["DefaultRouteSettings"] = stage_settings["DefaultRouteSettings"]
            resources[f"{r.logical}DefaultStage"] = {"Type": "AWS::ApiGatewayV2::Stage", "Properties": stage}
            if r.access_log_group:
                resources[f"{r.logical}DefaultStage"]["DependsOn"] = [r.access_log_group]
        for logical, companion in kinds.companions(r, model).items():
            resources[logical] = {**companion, "Properties": _sub(companion["Properties"])}

    # Things invoking a function's alias must wait for the alias.
    for r in model:
        if isinstance(
            r, EventSourceMapping | LambdaPermission | ScheduleRule | ApiIntegration | FunctionInvokeConfig
        ):
            depends[r.logical].add(f"{r.function}LiveAlias")
            cfn_names[f"{r.function}LiveAlias"] = f"{r.function}LiveAlias"

    for logical, deps in depends.items():
        body = resources[logical]
        implicit = _references(body.get("Properties", {}))
        wanted = sorted({cfn_names.get(d, d) for d in deps} - {"", logical} - implicit)
        if wanted:
            body["DependsOn"] = wanted

    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"picops stack {model.stack} (generated by `picops provision --export "
        "cloudformation`)",
        "Parameters": {
            "CodeS3Bucket": {"Type": "String", "Description": "bucket holding the Lambda bundle zip"},
            "CodeS3Key": {"Type": "String", "Description": "key of the Lambda bundle zip"},
        },
        "Resources": resources,
        "Outputs": {
            "BookingsApiEndpoint": {
                "Description": "base URL of the bookings HTTP API",
                "Value": {"Fn::GetAtt": ["BookingsApi", "ApiEndpoint"]},
            }
        },
    }
    template["Parameters"].update(parameters)
    return template


def _references(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value:
            found.add(str(value["Ref"]))
        if "Fn::GetAtt" in value:
            found.add(str(value["Fn::GetAtt"][0]))
        if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
            found |= {m for m in _PSEUDO.findall(value["Fn::Sub"]) if "::" not in m}
        for v in value.values():
            found |= _references(v)
    elif isinstance(value, list):
        for v in value:
            found |= _references(v)
    return found


def _resource(r: Resource, model: StackModel) -> dict[str, Any] | None:
    props: dict[str, Any]
    kind = kinds.kind_of(r)
    if kind is not None:
        rendered = kind.render(r, model)
        if rendered is None:
            return None
        props = rendered
    elif isinstance(r, FunctionSpec):
        props = {
            "FunctionName": r.name,
            "Handler": r.handler,
            "Runtime": r.runtime,
            "Timeout": r.timeout_s,
            "MemorySize": r.memory_mb,
            "Architectures": [r.architecture],
            "Role": {"Fn::GetAtt": [r.role, "Arn"]},
            "Environment": {"Variables": r.env},
            "Code": {"S3Bucket": {"Ref": "CodeS3Bucket"}, "S3Key": {"Ref": "CodeS3Key"}},
            "LoggingConfig": {"LogGroup": {"Ref": r.log_group}},
        }
        if r.reserved_concurrency is not None:
            props["ReservedConcurrentExecutions"] = r.reserved_concurrency
    elif isinstance(r, EventSourceMapping):
        source: Any = r.source_arn
        if not source:
            table = model.get(r.source)
            source = (
                {"Ref": referenced_table.stream_parameter(table)}
                if isinstance(table, ReferencedTable)
                else {"Fn::GetAtt": [r.source, "StreamArn"]}
            )
        props = {
            "FunctionName": f"{r.function_name}:{r.alias}",
            "EventSourceArn": source,
            "BatchSize": r.batch_size,
            "Enabled": True,
        }
        if r.report_batch_item_failures:
            props["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
        if r.batching_window_s is not None:
            props["MaximumBatchingWindowInSeconds"] = r.batching_window_s
        if r.max_concurrency is not None:
            props["ScalingConfig"] = {"MaximumConcurrency": r.max_concurrency}
        if r.starting_position:
            props["ParallelizationFactor"] = r.parallelization_factor
            props.update(
                StartingPosition=r.starting_position,
                BisectBatchOnFunctionError=r.bisect_on_error,
                MaximumRetryAttempts=r.max_retries,
            )
            if r.on_failure_arn:
                props["DestinationConfig"] = {"OnFailure": {"Destination": r.on_failure_arn}}
    elif isinstance(r, HttpApi):
        props = {"Name": r.name, "ProtocolType": "HTTP"}
    elif isinstance(r, ApiIntegration):
        props = {
            "ApiId": {"Ref": r.api},
            "IntegrationType": "AWS_PROXY",
            "IntegrationUri": {"Ref": f"{r.function}LiveAlias"},
            "PayloadFormatVersion": "2.0",
        }
    elif isinstance(r, ApiRoute):
        props = {
            "ApiId": {"Ref": r.api},
            "RouteKey": r.name,
            "Target": "integrations/${" + r.integration + "}",
            "AuthorizationType": r.authorization_type,
        }
        if r.authorizer:
            props["AuthorizerId"] = {"Ref": r.authorizer}
    elif isinstance(r, ApiAuthorizer):
        props = {
            "ApiId": {"Ref": r.api},
            "Name": r.name,
            "AuthorizerType": "JWT",
            "IdentitySource": [r.identity_source],
            "JwtConfiguration": {"Issuer": r.issuer, "Audience": list(r.audience)},
        }
    else:  # pragma: no cover - every model type is handled above
        raise TypeError(f"no CloudFormation mapping for {type(r).__name__}")
    return {"Type": r.type, "Properties": _sub(props)}


def render_template(model: StackModel, settings: Settings) -> str:
    return json.dumps(render(model, settings), indent=2) + "\n"
