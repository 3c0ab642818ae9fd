"""The shift on AWS, run server-side by CodeDeploy: one deployment per function in its deployment group (an
AppSpec naming the function, alias `live`, the version it serves and the one just published), followed with
GetDeployment until it ends. CodeDeploy shifts the weights, watches the group's alarms and rolls back by
itself, so closing the laptop (or `--no-wait`) does not stop a release; Ctrl-C only stops following it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from picops.aws_errors import code_of
from picops.provision.release.history import Record
from picops.provision.release.shift import IN_PROGRESS, ROLLED_BACK, STOPPED, SUCCEEDED, Shift
from picops.provision.release.strategy import ALL_AT_ONCE, Strategy

ENDED = {"Succeeded", "Failed", "Stopped"}
POLL_S = 10.0


def appspec(shift: Shift) -> str:
    """The AppSpec of a Lambda deployment: which function's alias moves from which version to which."""
    resource = {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Name": shift.name,
            "Alias": shift.alias,
            "CurrentVersion": shift.old,
            "TargetVersion": shift.new,
        },
    }
    return json.dumps({"version": 0.0, "Resources": [{shift.logical: resource}]}, sort_keys=True)


def ensure_config(codedeploy: Any, strategy: Strategy) -> str:
    """The deployment configuration of `strategy`: CodeDeploy's predefined one, or picops's own custom one,
    created the first time it is used (a configuration never changes once made, so its name says it all)."""
    name = strategy.codedeploy_config
    if strategy.kind == ALL_AT_ONCE or name.startswith("CodeDeployDefault."):
        return name
    try:
        codedeploy.get_deployment_config(deploymentConfigName=name)
        return name
    except botocore.exceptions.ClientError as exc:
        if code_of(exc) != "DeploymentConfigDoesNotExistException":
            raise
    if strategy.kind == "canary":
        routing = {
            "type": "TimeBasedCanary",
            "timeBasedCanary": {
                "canaryPercentage": strategy.percent,
                "canaryInterval": strategy.interval_min,
            },
        }
    else:
        routing = {
            "type": "TimeBasedLinear",
            "timeBasedLinear": {
                "linearPercentage": strategy.percent,
                "linearInterval": strategy.interval_min,
            },
        }
    codedeploy.create_deployment_config(
        deploymentConfigName=name, computePlatform="Lambda", trafficRoutingConfig=routing
    )
    return name


@dataclass
class CodeDeployDriver:
    codedeploy: Any
    application: str
    groups: dict[str, str]  # function logical name -> deployment group name
    # Alarms watched instead of the group's (explicit --alarm, or --force ignoring some); None: the group's.
    alarms: dict[str, tuple[str, ...]] | None = None
    sleep: Callable[[float], None] = time.sleep
    on_step: Callable[[Shift, str], None] | None = None
    deployments: dict[str, str] = field(default_factory=dict)

    def start(self, strategy: Strategy, shifts: Sequence[Shift]) -> None:
        config = ensure_config(self.codedeploy, strategy)
        for shift in shifts:
            args: dict[str, Any] = {
                "applicationName": self.application,
                "deploymentGroupName": self.groups[shift.logical],
                "deploymentConfigName": config,
                "description": f"picops deploy {shift.logical}: version {shift.old} -> {shift.new}",
                "revision": {
                    "revisionType": "AppSpecContent",
                    "appSpecContent": {"content": appspec(shift)},
                },
            }
            if self.alarms is not None:
                names = self.alarms.get(shift.logical, ())
                args["overrideAlarmConfiguration"] = {
                    "enabled": bool(names),
                    "ignorePollAlarmFailure": False,
                    "alarms": [{"name": name} for name in names],
                }
            self.deployments[shift.logical] = str(self.codedeploy.create_deployment(**args)["deploymentId"])

    def follow(self, shifts: Sequence[Shift]) -> None:
        """Until every deployment has ended: each shift's outcome from its deployment's."""
        seen: dict[str, str] = {}
        while True:
            active = [s for s in shifts if s.outcome == IN_PROGRESS]
            if not active:
                return
            for shift in active:
                info = self.codedeploy.get_deployment(deploymentId=self.deployments[shift.logical])
                self._update(shift, info["deploymentInfo"], seen)
            if any(s.outcome == IN_PROGRESS for s in shifts):
                self.sleep(POLL_S)

    def _update(self, shift: Shift, info: dict[str, Any], seen: dict[str, str]) -> None:
        status = str(info.get("status"))
        if seen.get(shift.logical) != status and self.on_step is not None:
            self.on_step(shift, status)
        seen[shift.logical] = status
        ended = outcome_of(info, shift.alarms)
        if ended is None:
            return
        shift.outcome, shift.alarm = ended
        if shift.outcome == SUCCEEDED:
            shift.weight = 100


def outcome_of(info: dict[str, Any], alarms: Sequence[str]) -> tuple[str, str | None] | None:
    """A deployment's outcome as the history records it (and the alarm, or CodeDeploy's reason, that ended
    it), or None while it runs."""
    status = str(info.get("status"))
    if status not in ENDED:
        return None
    if status == "Succeeded":
        return SUCCEEDED, None
    error = info.get("errorInformation") or {}
    rolled_back = bool(info.get("rollbackInfo")) or error.get("code") == "ALARM_ACTIVE"
    message = str(error.get("message") or "")
    return (ROLLED_BACK if rolled_back else STOPPED), _alarm_in(message, alarms) or (message[:200] or None)


def resolve(codedeploy: Any, record: Record, alarms: Sequence[str]) -> Record:
    """`record` as its CodeDeploy deployment now stands: a record left in progress by `--no-wait` (or by a
    follow that was interrupted) gets the outcome the deployment ended with."""
    if record.outcome != IN_PROGRESS or not record.deployment:
        return record
    info = codedeploy.get_deployment(deploymentId=record.deployment)["deploymentInfo"]
    ended = outcome_of(info, alarms)
    if ended is None:
        return record
    return dataclasses.replace(record, outcome=ended[0], alarm=ended[1])


def _alarm_in(message: str, alarms: Sequence[str]) -> str | None:
    return next((name for name in alarms if name in message), None)
