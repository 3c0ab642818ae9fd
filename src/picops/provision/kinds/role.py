"""AWS::IAM::Role with one inline policy: a function's execution role, or a service role whose trust is
limited to this account (the confused-deputy guard)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from picops.provision.kinds._common import GONE, describe_or_none, ignore_missing, paginated
from picops.stack.model import Role, StackModel, canonical

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = Role


def read(r: Role, ctx: Context) -> dict[str, Any] | None:
    iam = ctx.client("iam")
    found = describe_or_none(lambda: iam.get_role(RoleName=r.name))
    if found is None:
        return None
    role = found["Role"]
    ctx.remember(r.logical, RoleArn=role["Arn"])
    inline = describe_or_none(lambda: iam.get_role_policy(RoleName=r.name, PolicyName=r.policy_name))
    return {
        "AssumeRolePolicyDocument": canonical(_decode_policy(role["AssumeRolePolicyDocument"])),
        "Policy": canonical(_decode_policy(inline["PolicyDocument"])) if inline is not None else None,
    }


def _decode_policy(document: Any) -> Any:
    """IAM returns policy documents URL-encoded on the wire; boto3 usually decodes them, moto may not."""
    if isinstance(document, str):
        text = document if document.lstrip().startswith("{") else unquote(document)
        return json.loads(text)
    return document


def desired(r: Role, ctx: Context) -> dict[str, Any]:
    return r.desired()


def apply(r: Role, change: Change, ctx: Context) -> None:
    iam = ctx.client("iam")
    trust = json.dumps(r.trust)
    if change.action == "create":
        arn = iam.create_role(
            RoleName=r.name,
            AssumeRolePolicyDocument=trust,
            Description=f"picops {ctx.model.stack}: {r.description}",
        )["Role"]["Arn"]
        ctx.remember(r.logical, RoleArn=arn)
    elif "AssumeRolePolicyDocument" in change.diff:
        iam.update_assume_role_policy(RoleName=r.name, PolicyDocument=trust)
    if change.action == "create" or "Policy" in change.diff:
        iam.put_role_policy(RoleName=r.name, PolicyName=r.policy_name, PolicyDocument=r.document)


def delete(r: Role, ctx: Context) -> None:
    iam = ctx.client("iam")
    # DeleteRole refuses a role that still has inline policies.
    for policy in paginated(iam, "list_role_policies", "PolicyNames", RoleName=r.name):
        iam.delete_role_policy(RoleName=r.name, PolicyName=policy)
    ignore_missing(lambda: iam.delete_role(RoleName=r.name), *GONE)


def render(r: Role, model: StackModel) -> dict[str, Any]:
    return {
        "RoleName": r.name,
        "Description": f"picops {model.stack}: {r.description}",
        "AssumeRolePolicyDocument": r.trust,
        "Policies": [{"PolicyName": r.policy_name, "PolicyDocument": json.loads(r.document)}],
    }
