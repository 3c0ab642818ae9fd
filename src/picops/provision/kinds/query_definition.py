"""AWS::Logs::QueryDefinition: a saved Logs Insights query over the stack's log groups (docs/operating.md,
"Saved queries"). AWS identifies one by an id it assigns and lets several share a name, so the stack's
query is found by its exact name (the first, in AWS's order, when there are more) and its id remembered for
the update and the delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picops.provision.kinds._common import GONE, ignore_missing
from picops.stack.model import QueryDefinition, StackModel

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = QueryDefinition
# DescribeQueryDefinitions' largest page (botocore has no paginator for it).
PAGE = 1000


def _find(r: QueryDefinition, ctx: Context) -> dict[str, Any] | None:
    logs = ctx.client("logs")
    params: dict[str, Any] = {"queryDefinitionNamePrefix": r.name, "maxResults": PAGE}
    while True:
        page = logs.describe_query_definitions(**params)
        for found in page.get("queryDefinitions", []):
            if found.get("name") == r.name:
                return dict(found)
        token = page.get("nextToken")
        if not token:
            return None
        params["nextToken"] = token


def read(r: QueryDefinition, ctx: Context) -> dict[str, Any] | None:
    found = _find(r, ctx)
    if found is None:
        return None
    ctx.remember(r.logical, QueryDefinitionId=found["queryDefinitionId"])
    groups = sorted(found.get("logGroupNames", []))
    return {"QueryString": found.get("queryString", ""), "LogGroupNames": groups}


def desired(r: QueryDefinition, ctx: Context) -> dict[str, Any]:
    return r.desired()


def apply(r: QueryDefinition, change: Change, ctx: Context) -> None:
    params: dict[str, Any] = {
        "name": r.name,
        "queryString": r.query,
        "logGroupNames": list(r.log_group_names),
    }
    known = ctx.fact(r.logical, "QueryDefinitionId")
    if change.action != "create" and known:
        # Put with the id replaces name, query and log groups together: nothing of the old one is kept.
        params["queryDefinitionId"] = known
    made = ctx.client("logs").put_query_definition(**params)
    ctx.remember(r.logical, QueryDefinitionId=made["queryDefinitionId"])


def delete(r: QueryDefinition, ctx: Context) -> None:
    found = _find(r, ctx)
    if found is None:
        return
    logs = ctx.client("logs")
    ignore_missing(lambda: logs.delete_query_definition(queryDefinitionId=found["queryDefinitionId"]), *GONE)


def render(r: QueryDefinition, model: StackModel) -> dict[str, Any]:
    # Ref of a log group is its name: the export creates the groups first and names them here.
    return {
        "Name": r.name,
        "QueryString": r.query,
        "LogGroupNames": [{"Ref": logical} for logical in r.log_groups],
    }
