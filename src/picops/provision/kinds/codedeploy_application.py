"""AWS::CodeDeploy::Application: the stack's application for Lambda releases (ComputePlatform Lambda)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picops.provision.kinds._common import GONE, describe_or_none, ignore_missing
from picops.stack.model import CodeDeployApplication, StackModel

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = CodeDeployApplication
MISSING = ("ApplicationDoesNotExistException",)


def read(r: CodeDeployApplication, ctx: Context) -> dict[str, Any] | None:
    codedeploy = ctx.client("codedeploy")
    found = describe_or_none(lambda: codedeploy.get_application(applicationName=r.name), also=MISSING)
    return None if found is None else {"ComputePlatform": found["application"].get("computePlatform")}


def desired(r: CodeDeployApplication, ctx: Context) -> dict[str, Any]:
    return r.desired()


def apply(r: CodeDeployApplication, change: Change, ctx: Context) -> None:
    # The compute platform cannot change: only a create ever gets here with a difference.
    ctx.client("codedeploy").create_application(applicationName=r.name, computePlatform="Lambda")


def delete(r: CodeDeployApplication, ctx: Context) -> None:
    codedeploy = ctx.client("codedeploy")
    ignore_missing(lambda: codedeploy.delete_application(applicationName=r.name), *GONE, *MISSING)


def render(r: CodeDeployApplication, model: StackModel) -> dict[str, Any]:
    return {"ApplicationName": r.name, "ComputePlatform": "Lambda"}
