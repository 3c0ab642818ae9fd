"""AWS::Events::Rule: a schedule (the hourly sweep, the outbox sweep) and its one target (retry policy,
dead-letter queue)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import botocore.exceptions

from picops.aws_errors import SERVICE_MISSING, is_missing
from picops.errors import AwsError
from picops.provision.kinds._common import GONE, ignore_missing, paginated
from picops.provision.kinds.function import live_alias
from picops.stack.model import ScheduleRule, StackModel

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = ScheduleRule


def read(r: ScheduleRule, ctx: Context) -> dict[str, Any] | None:
    events = ctx.client("events")
    try:
        rule = events.describe_rule(Name=r.name)
    except botocore.exceptions.ClientError as exc:
        if is_missing(exc, SERVICE_MISSING):
            return None
        raise
    targets = paginated(events, "list_targets_by_rule", "Targets", Rule=r.name)
    kept = ("Id", "Arn", "Input", "RetryPolicy", "DeadLetterConfig")
    return {
        "ScheduleExpression": rule.get("ScheduleExpression"),
        "State": rule.get("State"),
        "Targets": sorted(({k: t[k] for k in kept if t.get(k)} for t in targets), key=lambda t: str(t["Id"])),
    }


def desired(r: ScheduleRule, ctx: Context) -> dict[str, Any]:
    return r.desired()


def apply(r: ScheduleRule, change: Change, ctx: Context) -> None:
    events = ctx.client("events")
    if change.action == "create" or {"ScheduleExpression", "State"} & set(change.diff):
        events.put_rule(
            Name=r.name,
            ScheduleExpression=r.schedule,
            State="ENABLED",
            Description=f"picops {ctx.model.stack}: {r.purpose}",
        )
    if change.action == "create" or "Targets" in change.diff:
        stale = [t["Id"] for t in (change.live or {}).get("Targets", []) if t["Id"] != r.target_id]
        if stale:
            events.remove_targets(Rule=r.name, Ids=stale)
        answer = events.put_targets(Rule=r.name, Targets=[r.target()])
        raise_failed_entries(r.name, answer)


def raise_failed_entries(rule: str, answer: dict[str, Any]) -> None:
    """PutTargets answers 200 even when it refuses a target (FailedEntryCount, one entry per refusal); a
    rule with no target would never run the sweep, so a refusal fails the apply like any AWS error."""
    if not answer.get("FailedEntryCount"):
        return
    failed = answer.get("FailedEntries") or [{}]
    first = failed[0]
    raise AwsError(
        f"events:PutTargets on rule {rule} refused target {first.get('TargetId', '?')}: "
        f"{first.get('ErrorCode', 'unknown error')} ({first.get('ErrorMessage', 'no message')})"
    )


def delete(r: ScheduleRule, ctx: Context) -> None:
    events = ctx.client("events")
    targets = [t["Id"] for t in paginated(events, "list_targets_by_rule", "Targets", Rule=r.name)]
    if targets:
        events.remove_targets(Rule=r.name, Ids=targets)
    ignore_missing(lambda: events.delete_rule(Name=r.name), *GONE)


def render(r: ScheduleRule, model: StackModel) -> dict[str, Any]:
    """CloudFormation properties: the target is the function's `live` alias."""
    props: dict[str, Any] = {
        "Name": r.name,
        "ScheduleExpression": r.schedule,
        "State": "ENABLED",
        "Targets": [{**r.target(), "Arn": {"Ref": live_alias(r.function)}}],
    }
    if r.dead_letter:
        props["Targets"][0]["DeadLetterConfig"] = {"Arn": {"Fn::GetAtt": [r.dead_letter, "Arn"]}}
    return props


def template_depends(r: ScheduleRule) -> dict[str, set[str]]:
    """It names the function's alias, so waits for it."""
    return {r.logical: {live_alias(r.function)}}
