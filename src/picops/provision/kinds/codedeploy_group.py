"""AWS::CodeDeploy::DeploymentGroup: one function's group (blue/green with traffic control, automatic rollback
on failure and on its alarms)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picops.provision.kinds._common import GONE, describe_or_none, ignore_missing
from picops.stack.model import CodeDeployGroup, StackModel

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = CodeDeployGroup
MISSING = ("ApplicationDoesNotExistException", "DeploymentGroupDoesNotExistException")


def read(r: CodeDeployGroup, ctx: Context) -> dict[str, Any] | None:
    codedeploy = ctx.client("codedeploy")
    found = describe_or_none(
        lambda: codedeploy.get_deployment_group(
            applicationName=r.application_name, deploymentGroupName=r.name
        ),
        also=MISSING,
    )
    if found is None:
        return None
    info = found["deploymentGroupInfo"]
    style = info.get("deploymentStyle") or {}
    rollback = info.get("autoRollbackConfiguration") or {}
    alarms = info.get("alarmConfiguration") or {}
    return {
        "ApplicationName": info.get("applicationName"),
        "DeploymentConfigName": info.get("deploymentConfigName"),
        "ServiceRoleArn": info.get("serviceRoleArn"),
        "DeploymentStyle": {
            "DeploymentType": style.get("deploymentType"),
            "DeploymentOption": style.get("deploymentOption"),
        },
        "AutoRollbackConfiguration": {
            "Enabled": bool(rollback.get("enabled")),
            "Events": sorted(rollback.get("events") or []),
        },
        "AlarmConfiguration": {
            "Enabled": bool(alarms.get("enabled")),
            "IgnorePollAlarmFailure": bool(alarms.get("ignorePollAlarmFailure")),
            "Alarms": [{"Name": a["name"]} for a in alarms.get("alarms") or []],
        },
    }


def desired(r: CodeDeployGroup, ctx: Context) -> dict[str, Any]:
    return r.desired()


def arguments(r: CodeDeployGroup) -> dict[str, Any]:
    """CreateDeploymentGroup's (and UpdateDeploymentGroup's) settings of the group: the model's desired
    state (CloudFormation's PascalCase) in the API's camelCase, less the application the call names apart."""
    settings: dict[str, Any] = _camel(r.desired())
    settings.pop("applicationName")
    return settings


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {key[:1].lower() + key[1:]: _camel(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def apply(r: CodeDeployGroup, change: Change, ctx: Context) -> None:
    codedeploy = ctx.client("codedeploy")
    if change.action == "create":
        codedeploy.create_deployment_group(
            applicationName=r.application_name, deploymentGroupName=r.name, **arguments(r)
        )
        return
    codedeploy.update_deployment_group(
        applicationName=r.application_name, currentDeploymentGroupName=r.name, **arguments(r)
    )


def delete(r: CodeDeployGroup, ctx: Context) -> None:
    codedeploy = ctx.client("codedeploy")
    ignore_missing(
        lambda: codedeploy.delete_deployment_group(
            applicationName=r.application_name, deploymentGroupName=r.name
        ),
        *GONE,
        *MISSING,
    )


def render(r: CodeDeployGroup, model: StackModel) -> dict[str, Any]:
    desired = r.desired()
    return {
        "ApplicationName": {"Ref": r.application},
        "DeploymentGroupName": r.name,
        "ServiceRoleArn": {"Fn::GetAtt": [r.service_role, "Arn"]},
        "DeploymentConfigName": r.config_name,
        "DeploymentStyle": desired["DeploymentStyle"],
        "AutoRollbackConfiguration": desired["AutoRollbackConfiguration"],
        "AlarmConfiguration": desired["AlarmConfiguration"],
    }
