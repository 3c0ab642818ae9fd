"""A sweep that raises lands in SweepDLQ: the sweeper's asynchronous invoke configuration (on-failure
destination, bounded retries), the role grant Lambda sends it with, the operator's actions, the CloudFormation
export, and the requests apply makes (Stubber)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import boto3
from botocore.stub import Stubber

from picops.config import load_settings
from picops.provision.cloudformation import render, template_model
from picops.provision.kinds import function_invoke_config
from picops.provision.plan import Change
from picops.stack.build import build_model
from picops.stack.model import Alarm, FunctionInvokeConfig, Role, StackModel
from picops.stack.operator_policy import operator_policy

ACCOUNT, REGION = "123456789012", "eu-west-1"
DLQ_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:picops-sweep-dlq"


def _model() -> StackModel:
    return build_model(load_settings(use_files=False), ACCOUNT, REGION)


def _config(model: StackModel) -> FunctionInvokeConfig:
    config = model.get("ModerationSweepFunctionInvokeConfig")
    assert isinstance(config, FunctionInvokeConfig)
    return config


def test_a_raising_sweep_goes_to_sweep_dlq_after_lambdas_retries() -> None:
    model = _model()
    config = _config(model)
    assert (config.function_name, config.alias) == ("picops-moderation-sweep", "live")
    assert config.on_failure_arn == DLQ_ARN
    # Lambda accepts 0-2 retries and 60-21600 s; within the hour, as the next hourly run supersedes it.
    assert 0 < config.max_retries <= 2
    assert 60 <= config.max_event_age_s <= 3600
    assert {"ModerationSweepFunction", "SweepDLQ"} <= set(config.depends_on)
    ordered = [r.logical for r in model.ordered()]
    assert ordered.index("ModerationSweepFunction") < ordered.index(config.logical)


def _allows(document: dict[str, Any], action: str, resource: str) -> bool:
    return any(
        s["Effect"] == "Allow"
        and action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        and resource in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
        for s in document["Statement"]
    )


def test_the_sweepers_role_may_send_to_sweep_dlq_and_no_other_role_may() -> None:
    model = _model()
    roles = {r.logical: json.loads(r.document) for r in model.of_type(Role)}
    assert _allows(roles["ModerationSweepFunctionRole"], "sqs:SendMessage", DLQ_ARN)
    others = [name for name, doc in roles.items() if name != "ModerationSweepFunctionRole"]
    assert not [name for name in others if _allows(roles[name], "sqs:SendMessage", DLQ_ARN)]


def test_the_operator_may_read_set_and_remove_the_invoke_config() -> None:
    model = _model()
    policy = operator_policy(model)
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:picops-moderation-sweep"
    for action in ("Get", "Put", "Delete"):
        name = f"lambda:{action}FunctionEventInvokeConfig"
        assert any(
            name in s["Action"] and any(function_arn in res for res in s["Resource"])
            for s in policy["Statement"]
        ), name


def test_the_export_carries_the_invoke_config_on_the_live_alias() -> None:
    settings = load_settings(use_files=False)
    template = render(template_model(settings), settings)
    body = template["Resources"]["ModerationSweepFunctionInvokeConfig"]
    assert body["Type"] == "AWS::Lambda::EventInvokeConfig"
    props = body["Properties"]
    assert props["FunctionName"] == {"Ref": "ModerationSweepFunction"}
    assert props["Qualifier"] == "live"
    assert props["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": ["SweepDLQ", "Arn"]}}}
    assert props["MaximumRetryAttempts"] == _config(_model()).max_retries
    # The qualifier must exist before the configuration can name it.
    assert "ModerationSweepFunctionLiveAlias" in body["DependsOn"]


def _run(change_action: str, expected: list[tuple[str, dict[str, Any]]]) -> None:
    config = _config(_model())
    client = boto3.client("lambda", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        for operation, params in expected:
            stub.add_response(operation, {}, params)
        ctx: Any = SimpleNamespace(client=lambda service: client)
        change = Change(config, change_action)  # type: ignore[arg-type]
        function_invoke_config.apply(config, change, ctx)
        stub.assert_no_pending_responses()


PUT = {
    "FunctionName": "picops-moderation-sweep",
    "Qualifier": "live",
    "MaximumRetryAttempts": 2,
    "MaximumEventAgeInSeconds": 3600,
    "DestinationConfig": {"OnFailure": {"Destination": DLQ_ARN}},
}


def test_apply_puts_the_destination_and_replaces_a_drifted_config_whole() -> None:
    _run("create", [("put_function_event_invoke_config", PUT)])
    # Some implementations keep the first configuration put: the update removes it first.
    delete = {"FunctionName": "picops-moderation-sweep", "Qualifier": "live"}
    _run(
        "update", [("delete_function_event_invoke_config", delete), ("put_function_event_invoke_config", PUT)]
    )


def test_sweep_dlq_alarm_says_what_it_holds() -> None:
    (alarm,) = [a for a in _model().of_type(Alarm) if a.watches == "SweepDLQ"]
    text = alarm.description
    assert "raised" in text
    assert "could not deliver" in text
