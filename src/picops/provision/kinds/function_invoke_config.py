"""AWS::Lambda::EventInvokeConfig: a function alias's asynchronous invocation settings (retries, maximum
event age, on-failure destination); see docs/provision.md."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import botocore.exceptions

from picops.aws_errors import SERVICE_MISSING, is_missing
from picops.provision.kinds._common import GONE, ignore_missing
from picops.provision.kinds.function import live_alias
from picops.stack.model import FunctionInvokeConfig, StackModel

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = FunctionInvokeConfig


def read(r: FunctionInvokeConfig, ctx: Context) -> dict[str, Any] | None:
    try:
        config = ctx.client("lambda").get_function_event_invoke_config(
            FunctionName=r.function_name, Qualifier=r.alias
        )
    except botocore.exceptions.ClientError as exc:
        if is_missing(exc, SERVICE_MISSING):
            return None
        raise
    return {
        "MaximumRetryAttempts": config.get("MaximumRetryAttempts"),
        "MaximumEventAgeInSeconds": config.get("MaximumEventAgeInSeconds"),
        "OnFailureDestination": config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"),
    }


def desired(r: FunctionInvokeConfig, ctx: Context) -> dict[str, Any]:
    return r.desired()


def apply(r: FunctionInvokeConfig, change: Change, ctx: Context) -> None:
    lam = ctx.client("lambda")
    if change.action == "update":
        # Put replaces the whole configuration on AWS; deleting first gives the same result on
        # implementations that keep the first one put.
        lam.delete_function_event_invoke_config(FunctionName=r.function_name, Qualifier=r.alias)
    destination = {"OnFailure": {"Destination": r.on_failure_arn}} if r.on_failure_arn else {}
    lam.put_function_event_invoke_config(
        FunctionName=r.function_name,
        Qualifier=r.alias,
        MaximumRetryAttempts=r.max_retries,
        MaximumEventAgeInSeconds=r.max_event_age_s,
        DestinationConfig=destination,
    )


def delete(r: FunctionInvokeConfig, ctx: Context) -> None:
    lam = ctx.client("lambda")
    ignore_missing(
        lambda: lam.delete_function_event_invoke_config(FunctionName=r.function_name, Qualifier=r.alias),
        *GONE,
    )


def render(r: FunctionInvokeConfig, model: StackModel) -> dict[str, Any]:
    """CloudFormation properties; the function's `live` alias is a DependsOn the export adds."""
    props: dict[str, Any] = {
        "FunctionName": {"Ref": r.function},
        "Qualifier": r.alias,
        "MaximumRetryAttempts": r.max_retries,
        "MaximumEventAgeInSeconds": r.max_event_age_s,
    }
    if r.on_failure:
        props["DestinationConfig"] = {"OnFailure": {"Destination": {"Fn::GetAtt": [r.on_failure, "Arn"]}}}
    return props


def template_depends(r: FunctionInvokeConfig) -> dict[str, set[str]]:
    """It names the function's alias, so waits for it."""
    return {r.logical: {live_alias(r.function)}}
