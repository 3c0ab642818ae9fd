"""AWS::DynamoDB::Table that picops manages: on-demand billing, KMS encryption at rest, a stream where a
function reads one, point-in-time recovery where the data cannot be rebuilt. A vendor's table picops only
reads is the referenced_table kind."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picops.provision.kinds._common import GONE, describe_or_none, ignore_missing
from picops.provision.propagation import wait_for_propagation
from picops.stack.model import StackModel, Table

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = Table

SSE = {"Enabled": True, "SSEType": "KMS"}


def describe(r: Table, ctx: Context) -> dict[str, Any] | None:
    """DescribeTable's answer (None when missing); its stream ARN and status are remembered for mappings
    and preflight."""
    ddb = ctx.client("dynamodb")
    found = describe_or_none(lambda: ddb.describe_table(TableName=r.name))
    if found is None:
        return None
    table: dict[str, Any] = found["Table"]
    enabled = bool((table.get("StreamSpecification") or {}).get("StreamEnabled"))
    stream_arn = table.get("LatestStreamArn") if enabled else None
    ctx.remember(r.logical, StreamArn=stream_arn, Status=table["TableStatus"])
    return table


def key_schema(table: dict[str, Any]) -> list[dict[str, str]]:
    return sorted(table["KeySchema"], key=lambda k: 0 if k["KeyType"] == "HASH" else 1)


def read(r: Table, ctx: Context) -> dict[str, Any] | None:
    table = describe(r, ctx)
    if table is None:
        return None
    stream = table.get("StreamSpecification") or {}
    enabled = bool(stream.get("StreamEnabled"))
    backups = ctx.client("dynamodb").describe_continuous_backups(TableName=r.name)[
        "ContinuousBackupsDescription"
    ]
    pitr_status = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
    return {
        "KeySchema": key_schema(table),
        "BillingMode": table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"),
        "StreamEnabled": enabled,
        "StreamViewType": stream.get("StreamViewType") if enabled else None,
        "SSEEnabled": table.get("SSEDescription", {}).get("Status") in ("ENABLED", "ENABLING", "UPDATING"),
        "PointInTimeRecovery": pitr_status == "ENABLED",
    }


def desired(r: Table, ctx: Context) -> dict[str, Any]:
    return r.desired()


def _attribute_definitions(r: Table) -> list[dict[str, str]]:
    # Only key attributes are declared, and picops's keys are all strings.
    return [{"AttributeName": key, "AttributeType": "S"} for key in (r.hash_key, r.range_key) if key]


def _create(r: Table, ctx: Context) -> None:
    ddb = ctx.client("dynamodb")
    kwargs: dict[str, Any] = {
        "TableName": r.name,
        "KeySchema": r.key_schema(),
        "AttributeDefinitions": _attribute_definitions(r),
        "BillingMode": "PAY_PER_REQUEST",
        "SSESpecification": SSE,
    }
    if r.stream_view:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": r.stream_view}
    table = ddb.create_table(**kwargs)["TableDescription"]
    ddb.get_waiter("table_exists").wait(TableName=r.name)
    ctx.remember(r.logical, StreamArn=table.get("LatestStreamArn"))
    if r.point_in_time_recovery:
        _pitr(r, ctx)


def _pitr(r: Table, ctx: Context) -> None:
    ddb = ctx.client("dynamodb")
    wait_for_propagation(
        lambda: ddb.update_continuous_backups(
            TableName=r.name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": r.point_in_time_recovery},
        )
    )


def _restream(r: Table, change: Change, ctx: Context) -> None:
    ddb = ctx.client("dynamodb")
    if change.live and change.live.get("StreamEnabled"):
        # The view type of an enabled stream cannot change in place: disable, then re-enable.
        ddb.update_table(TableName=r.name, StreamSpecification={"StreamEnabled": False})
        ddb.get_waiter("table_exists").wait(TableName=r.name)
    if r.stream_view:
        spec = {"StreamEnabled": True, "StreamViewType": r.stream_view}
        table = ddb.update_table(TableName=r.name, StreamSpecification=spec)["TableDescription"]
        ctx.remember(r.logical, StreamArn=table.get("LatestStreamArn"))
    ddb.get_waiter("table_exists").wait(TableName=r.name)


def apply(r: Table, change: Change, ctx: Context) -> None:
    if change.action == "create":
        _create(r, ctx)
        return
    ddb = ctx.client("dynamodb")
    diff = change.diff
    if "BillingMode" in diff:
        ddb.update_table(TableName=r.name, BillingMode="PAY_PER_REQUEST")
        ddb.get_waiter("table_exists").wait(TableName=r.name)
    if "StreamEnabled" in diff or "StreamViewType" in diff:
        _restream(r, change, ctx)
    if "SSEEnabled" in diff:
        ddb.update_table(TableName=r.name, SSESpecification=SSE)
    if "PointInTimeRecovery" in diff:
        _pitr(r, ctx)


def contents(r: Table, ctx: Context) -> str:
    found = ctx.client("dynamodb").scan(TableName=r.name, Limit=1, Select="COUNT").get("Count")
    return "holds items" if found else ""


def delete(r: Table, ctx: Context) -> None:
    ddb = ctx.client("dynamodb")
    ignore_missing(lambda: ddb.delete_table(TableName=r.name), *GONE)
    ddb.get_waiter("table_not_exists").wait(TableName=r.name)


def render(r: Table, model: StackModel) -> dict[str, Any]:
    props: dict[str, Any] = {
        "TableName": r.name,
        "KeySchema": r.key_schema(),
        "AttributeDefinitions": _attribute_definitions(r),
        "BillingMode": "PAY_PER_REQUEST",
        "SSESpecification": {"SSEEnabled": True},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": r.point_in_time_recovery},
    }
    if r.stream_view:
        props["StreamSpecification"] = {"StreamViewType": r.stream_view}
    return props
