"""AWS::Lambda::Function (model type FunctionSpec): code, configuration and the `live` alias event sources
invoke are made by deploy (`ensure_function`); provision adds reserved concurrency. The export adds a
version and the alias beside the function."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picops.provision.kinds._common import GONE, describe_or_none, ignore_missing
from picops.stack.model import FunctionSpec, StackModel

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = FunctionSpec


def read(r: FunctionSpec, ctx: Context) -> dict[str, Any] | None:
    lam = ctx.client("lambda")
    config = describe_or_none(lambda: lam.get_function_configuration(FunctionName=r.name))
    if config is None:
        return None
    alias = describe_or_none(lambda: lam.get_alias(FunctionName=r.name, Name=r.alias))
    ctx.remember(r.logical, FunctionArn=config["FunctionArn"], CodeSha256=config.get("CodeSha256"))
    reserved = lam.get_function_concurrency(FunctionName=r.name).get("ReservedConcurrentExecutions")
    mode = (config.get("TracingConfig") or {}).get("Mode", "PassThrough")
    tracing = {"TracingConfig": mode} if r.tracing or mode == "Active" else {}
    return {
        **tracing,
        "Handler": config.get("Handler"),
        "Runtime": config.get("Runtime"),
        "Timeout": config.get("Timeout"),
        "MemorySize": config.get("MemorySize"),
        "Architectures": config.get("Architectures") or ["x86_64"],
        "Role": config.get("Role"),
        "Environment": config.get("Environment", {}).get("Variables", {}),
        "Alias": r.alias if alias is not None else None,
        "ReservedConcurrentExecutions": reserved,
    }


def desired(r: FunctionSpec, ctx: Context) -> dict[str, Any]:
    fields = r.desired()
    fields["Environment"] = r.env
    return fields


def apply(r: FunctionSpec, change: Change, ctx: Context) -> None:
    # Imported here: deploy pulls in the bundle builder, which only a function's apply needs.
    from picops.provision.deploy import ensure_function

    if change.action == "create" or set(change.diff) - {"ReservedConcurrentExecutions"}:
        settings, bundle = ctx.deploy_inputs()
        ensure_function(ctx.factory, settings, r, bundle, r.role_arn)
    live_reserved = (change.live or {}).get("ReservedConcurrentExecutions")
    if live_reserved != r.reserved_concurrency:
        lam = ctx.client("lambda")
        if r.reserved_concurrency is None:
            lam.delete_function_concurrency(FunctionName=r.name)
        else:
            lam.put_function_concurrency(
                FunctionName=r.name, ReservedConcurrentExecutions=r.reserved_concurrency
            )


def delete(r: FunctionSpec, ctx: Context) -> None:
    # Deleting the function deletes its versions and aliases with it.
    lam = ctx.client("lambda")
    ignore_missing(lambda: lam.delete_function(FunctionName=r.name), *GONE)


def render(r: FunctionSpec, model: StackModel) -> dict[str, Any]:
    props: dict[str, Any] = {
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
    if r.tracing:
        props["TracingConfig"] = {"Mode": "Active"}
    return props


def live_alias(function: str) -> str:
    """The export's logical name of a function's `live` alias, which everything invoking it references."""
    return f"{function}LiveAlias"


def companions(r: FunctionSpec, model: StackModel) -> dict[str, dict[str, Any]]:
    """A published version and the `live` alias on it (what event sources, rules and the API invoke)."""
    version = f"{r.logical}Version"
    return {
        version: {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": r.logical}}},
        live_alias(r.logical): {
            "Type": "AWS::Lambda::Alias",
            "Properties": {
                "FunctionName": {"Ref": r.logical},
                "FunctionVersion": {"Fn::GetAtt": [version, "Version"]},
                "Name": r.alias,
            },
        },
    }
