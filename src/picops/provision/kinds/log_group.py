"""AWS::Logs::LogGroup: a function's `/aws/lambda/<name>` group, made by provision so its retention is
`[deploy] log_retention_days` from the first log line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import botocore.exceptions

from picops.aws_errors import error_code
from picops.provision.kinds._common import GONE, ignore_missing
from picops.stack.model import LogGroup, StackModel

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = LogGroup


def read(r: LogGroup, ctx: Context) -> dict[str, Any] | None:
    logs = ctx.client("logs")
    # The name is a prefix filter: other groups may share it, so the exact name is matched.
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=r.name):
        for group in page["logGroups"]:
            if group["logGroupName"] == r.name:
                return {"RetentionInDays": group.get("retentionInDays")}
    return None


def desired(r: LogGroup, ctx: Context) -> dict[str, Any]:
    return r.desired()


def apply(r: LogGroup, change: Change, ctx: Context) -> None:
    logs = ctx.client("logs")
    if change.action == "create":
        try:
            logs.create_log_group(logGroupName=r.name)
        except botocore.exceptions.ClientError as exc:
            # Lambda creates its log group on first invoke; adopt one that appeared meanwhile.
            if error_code(exc) != "ResourceAlreadyExistsException":
                raise
    logs.put_retention_policy(logGroupName=r.name, retentionInDays=r.retention_days)


def delete(r: LogGroup, ctx: Context) -> None:
    logs = ctx.client("logs")
    ignore_missing(lambda: logs.delete_log_group(logGroupName=r.name), *GONE)


def render(r: LogGroup, model: StackModel) -> dict[str, Any]:
    return {"LogGroupName": r.name, "RetentionInDays": r.retention_days}
