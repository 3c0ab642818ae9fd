"""A DynamoDB table owned by a vendor (`[moderation] external = true`): picops reads it (its key and
stream, which the moderation stream mapping needs) and never creates, changes or deletes it. Preflight
refuses a plan where it is missing; the export takes its stream ARN as a template parameter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picops.provision.kinds.table import describe, key_schema
from picops.stack.model import ReferencedTable, StackModel

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = ReferencedTable

# Why plan shows it unchanged whatever differs, and destroy passes it by.
REFERENCED = "external: owned by the vendor, never deleted"


def read(r: ReferencedTable, ctx: Context) -> dict[str, Any] | None:
    table = describe(r, ctx)
    if table is None:
        return None
    stream = table.get("StreamSpecification") or {}
    # StreamViewType is read for preflight only: not desired, so never planned as a change.
    return {
        "KeySchema": key_schema(table),
        "StreamEnabled": bool(stream.get("StreamEnabled")),
        "StreamViewType": stream.get("StreamViewType"),
    }


def desired(r: ReferencedTable, ctx: Context) -> dict[str, Any]:
    return r.desired()


def apply(r: ReferencedTable, change: Change, ctx: Context) -> None:
    """Nothing: the vendor owns it (preflight has already required it to exist)."""


def delete(r: ReferencedTable, ctx: Context) -> None:
    """Nothing: the vendor owns it and its data."""


def stream_parameter(r: ReferencedTable) -> str:
    """The export's parameter carrying the table's stream ARN (the template cannot read it)."""
    return f"{r.logical}StreamArn"


def render(r: ReferencedTable, model: StackModel) -> None:
    """No resource: the template takes the stream ARN as a parameter instead (`template_parameters`)."""
    return


def template_parameters(r: ReferencedTable) -> dict[str, dict[str, str]]:
    return {
        stream_parameter(r): {
            "Type": "String",
            "Description": f"stream ARN of the vendor-owned {r.logical} ([moderation] external = true)",
        }
    }
