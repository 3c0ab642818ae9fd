"""AWS::CloudWatch::Alarm: each alarm's description says what it means and the first command to run
(docs/operating.md); actions go to AlertsTopic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picops.stack.model import Alarm, StackModel

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = Alarm


def read(r: Alarm, ctx: Context) -> dict[str, Any] | None:
    alarms = ctx.client("cloudwatch").describe_alarms(AlarmNames=[r.name]).get("MetricAlarms", [])
    if not alarms:
        return None
    a = alarms[0]
    ctx.remember(r.logical, AlarmArn=a.get("AlarmArn"))
    return {
        "AlarmDescription": a.get("AlarmDescription", ""),
        "Namespace": a.get("Namespace"),
        "MetricName": a.get("MetricName"),
        "Dimensions": [{"Name": d["Name"], "Value": d["Value"]} for d in a.get("Dimensions", [])],
        "Statistic": a.get("Statistic"),
        "Threshold": float(a.get("Threshold", 0)),
        "ComparisonOperator": a.get("ComparisonOperator"),
        "Period": a.get("Period"),
        "EvaluationPeriods": a.get("EvaluationPeriods"),
        "AlarmActions": list(a.get("AlarmActions", [])),
        "TreatMissingData": a.get("TreatMissingData", "missing"),
    }


def desired(r: Alarm, ctx: Context) -> dict[str, Any]:
    return r.desired()


def apply(r: Alarm, change: Change, ctx: Context) -> None:
    # PutMetricAlarm creates or replaces the whole alarm, so create and update are one call.
    ctx.client("cloudwatch").put_metric_alarm(AlarmName=r.name, ActionsEnabled=True, **r.desired())


def delete(r: Alarm, ctx: Context) -> None:
    # DeleteAlarms answers success for names that do not exist.
    ctx.client("cloudwatch").delete_alarms(AlarmNames=[r.name])


def render(r: Alarm, model: StackModel) -> dict[str, Any]:
    return {"AlarmName": r.name, **r.desired(), "AlarmActions": [{"Ref": r.topic}]}
