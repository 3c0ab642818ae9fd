"""AWS::CloudWatch::Dashboard: the pipelines dashboard (docs/operating.md). Its body names the API by
`${Logical}` placeholders: the live API id when provisioning, Fn::Sub in the export."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import botocore.exceptions

from picops.aws_errors import SERVICE_MISSING, is_missing
from picops.provision.kinds._common import GONE, ignore_missing
from picops.stack.model import Dashboard, StackModel, canonical

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = Dashboard


def read(r: Dashboard, ctx: Context) -> dict[str, Any] | None:
    try:
        found = ctx.client("cloudwatch").get_dashboard(DashboardName=r.name)
    except botocore.exceptions.ClientError as exc:
        if is_missing(exc, SERVICE_MISSING, also={"404"}):
            return None
        raise
    ctx.remember(r.logical, DashboardArn=found.get("DashboardArn"))
    return {"DashboardBody": canonical(found.get("DashboardBody") or "{}")}


def body(r: Dashboard, ctx: Context) -> str:
    """The dashboard's JSON with `${Logical}` placeholders replaced by the ids live state knows."""
    text = r.body
    for logical in r.references:
        value = ctx.fact(logical, "ApiId") if logical in ctx.model else None
        text = text.replace("${" + logical + "}", str(value) if value else f"<{logical} id>")
    return text


def desired(r: Dashboard, ctx: Context) -> dict[str, Any]:
    fields = r.desired()
    fields["DashboardBody"] = canonical(body(r, ctx))
    return fields


def apply(r: Dashboard, change: Change, ctx: Context) -> None:
    ctx.client("cloudwatch").put_dashboard(DashboardName=r.name, DashboardBody=body(r, ctx))


def delete(r: Dashboard, ctx: Context) -> None:
    cloudwatch = ctx.client("cloudwatch")
    ignore_missing(lambda: cloudwatch.delete_dashboards(DashboardNames=[r.name]), *GONE)


def render(r: Dashboard, model: StackModel) -> dict[str, Any]:
    # `${BookingsApi}` in the body is the API's id: Fn::Sub resolves it (and the region) at deploy time.
    return {"DashboardName": r.name, "DashboardBody": r.body}
