"""AWS::Lambda::Permission: one statement letting a service (EventBridge, API Gateway) invoke a function's
`live` alias, scoped to its source's ARN."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from picops.aws_errors import SERVICE_MISSING, is_missing
from picops.provision.kinds._common import CFN_ACCOUNT, CFN_REGION, GONE, ignore_missing
from picops.provision.kinds.function import live_alias
from picops.stack.model import LambdaPermission, StackModel
from picops.stack.names import build_arn

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = LambdaPermission


def read(r: LambdaPermission, ctx: Context) -> dict[str, Any] | None:
    try:
        policy = ctx.client("lambda").get_policy(FunctionName=r.function_name, Qualifier=r.alias)["Policy"]
    except botocore.exceptions.ClientError as exc:
        if is_missing(exc, SERVICE_MISSING):
            return None
        raise
    for statement in json.loads(policy).get("Statement", []):
        if statement.get("Sid") != r.name:
            continue
        principal = statement.get("Principal", {})
        condition = statement.get("Condition", {})
        source = condition.get("ArnLike", {}).get("AWS:SourceArn") or condition.get("ArnEquals", {}).get(
            "AWS:SourceArn"
        )
        return {
            "Action": statement.get("Action"),
            "Principal": principal.get("Service") if isinstance(principal, dict) else principal,
            "SourceArn": source,
        }
    return None


def source_arn(r: LambdaPermission, ctx: Context) -> str | None:
    """The source's ARN; an API's is known only once the API exists (its id)."""
    if r.source_arn:
        return r.source_arn
    api_id = ctx.fact(r.source, "ApiId")
    if not api_id:
        return None
    return build_arn(ctx.model.region, "execute-api", ctx.model.account, f"{api_id}/*")


def desired(r: LambdaPermission, ctx: Context) -> dict[str, Any]:
    fields = r.desired()
    if not r.source_arn:
        fields["SourceArn"] = source_arn(r, ctx) or f"<{r.source} arn>/*"
    return fields


def apply(r: LambdaPermission, change: Change, ctx: Context) -> None:
    lam = ctx.client("lambda")
    if change.action == "update":
        lam.remove_permission(FunctionName=r.function_name, Qualifier=r.alias, StatementId=r.name)
    lam.add_permission(
        FunctionName=r.function_name,
        Qualifier=r.alias,
        StatementId=r.name,
        Action="lambda:InvokeFunction",
        Principal=r.principal,
        SourceArn=source_arn(r, ctx),
    )


def delete(r: LambdaPermission, ctx: Context) -> None:
    lam = ctx.client("lambda")
    ignore_missing(
        lambda: lam.remove_permission(FunctionName=r.function_name, Qualifier=r.alias, StatementId=r.name),
        *GONE,
    )


def render(r: LambdaPermission, model: StackModel) -> dict[str, Any]:
    arn: Any = r.source_arn or (
        "arn:aws:execute-api:" + CFN_REGION + ":" + CFN_ACCOUNT + ":${" + r.source + "}/*"
    )
    return {
        "FunctionName": {"Ref": live_alias(r.function)},
        "Action": "lambda:InvokeFunction",
        "Principal": r.principal,
        "SourceArn": arn,
    }


def template_depends(r: LambdaPermission) -> dict[str, set[str]]:
    """It names the function's alias, so waits for it."""
    return {r.logical: {live_alias(r.function)}}
