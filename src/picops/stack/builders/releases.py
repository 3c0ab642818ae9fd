"""Server-side releases on AWS: the stack's CodeDeploy application (ComputePlatform Lambda), CodeDeploy's
service role, and one deployment group per function, blue/green with traffic control on alias `live`, rolled
back on failure and on the function's own alarms (docs/provision.md, "Safe releases"). A local endpoint has
no CodeDeploy: there picops drives the shift itself, so the local model has none of these."""

from __future__ import annotations

import json

from picops.stack.builders.context import BuildContext
from picops.stack.model import HANDLERS, CodeDeployApplication, CodeDeployGroup, Resource, Role
from picops.stack.names import build_arn, dlq_alarm_name, role_name

APPLICATION = "ReleasesApplication"
# CodeDeploy's predefined Lambda deployment configurations, the ones `deploy --strategy` names
# (provision/release/strategy.py; tests/unit/test_release_model.py holds the two lists equal).
PREDEFINED_CONFIGS = (
    "CodeDeployDefault.LambdaAllAtOnce",
    *(f"CodeDeployDefault.LambdaCanary10Percent{m}Minutes" for m in (5, 10, 15, 30)),
    "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
    *(f"CodeDeployDefault.LambdaLinear10PercentEvery{m}Minutes" for m in (2, 3, 10)),
)
# picops's own configurations (custom strategies) are named with this prefix.
CUSTOM_CONFIG_PREFIX = "picops-"
SERVICE_ROLE = "CodeDeployServiceRole"
# The DLQ each function's failures land in: its alarm is one of the function's own (the default of
# `deploy --alarm`; tests/unit/test_release_model.py holds the two equal).
FUNCTION_DLQS = {
    "IngestFunction": "IngestDLQ",
    "InventoryFunction": "InventoryDLQ",
    "PaymentFunction": "PaymentDLQ",
    "ModerationSweepFunction": "SweepDLQ",
}


def group_logical(fn: str) -> str:
    return f"{fn}DeploymentGroup"


def application_name(stack: str) -> str:
    return f"{stack}-releases"


def function_alarms(stack: str, fn: str) -> tuple[str, ...]:
    dlq = FUNCTION_DLQS.get(fn)
    own = (f"{stack}-{fn}-errors", f"{stack}-{fn}-throttles")
    return own + ((dlq_alarm_name(stack, dlq),) if dlq else ())


def build(ctx: BuildContext) -> list[Resource]:
    if ctx.local:
        return []
    stack = ctx.settings.stack.name
    rname = role_name(f"{stack}-codedeploy", ctx.region)
    role_arn = ctx.names.role_arn(rname)
    resources: list[Resource] = [
        CodeDeployApplication(APPLICATION, application_name(stack)),
        Role(
            SERVICE_ROLE,
            rname,
            service="codedeploy.amazonaws.com",
            source_account=ctx.account,
            purpose="CodeDeploy's service role: shifts the functions' alias live, reads their alarms",
            document=json.dumps(_service_policy(ctx), sort_keys=True, separators=(",", ":")),
        ),
    ]
    for fn in HANDLERS:
        resources.append(
            CodeDeployGroup(
                group_logical(fn),
                ctx.names.physical(fn),
                application=APPLICATION,
                application_name=application_name(stack),
                function=fn,
                service_role=SERVICE_ROLE,
                service_role_arn=role_arn,
                alarms=function_alarms(stack, fn),
            )
        )
    return resources


def _service_policy(ctx: BuildContext) -> dict[str, object]:
    """What AWSCodeDeployRoleForLambda grants that a release of this stack uses, on this stack's ARNs only:
    read and move the functions' aliases, read the functions' alarms."""
    functions = [
        build_arn(ctx.region, "lambda", ctx.account, f"function:{ctx.names.physical(fn)}") for fn in HANDLERS
    ]
    alarms = [ctx.alarm_arn(name) for fn in HANDLERS for name in function_alarms(ctx.settings.stack.name, fn)]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ShiftAliasLive",
                "Effect": "Allow",
                "Action": ["lambda:GetAlias", "lambda:UpdateAlias", "lambda:GetProvisionedConcurrencyConfig"],
                "Resource": sorted([*functions, *(f"{f}:*" for f in functions)]),
            },
            {
                "Sid": "ReadFunctionAlarms",
                "Effect": "Allow",
                "Action": ["cloudwatch:DescribeAlarms"],
                "Resource": sorted(alarms),
            },
        ],
    }
