"""Releases on AWS through CodeDeploy: the model's application, service role and deployment groups, their
export, and the request shapes of the deployments (pinned with botocore's Stubber: moto's CodeDeploy is
thin)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from picops.config import Settings
from picops.provision.cloudformation import render_template, template_model
from picops.provision.release.alarms import default_alarms
from picops.provision.release.codedeploy import CodeDeployDriver, appspec, ensure_config
from picops.provision.release.shift import Shift
from picops.provision.release.strategy import PREDEFINED, parse_strategy
from picops.stack.build import build_model
from picops.stack.builders.releases import PREDEFINED_CONFIGS
from picops.stack.model import CodeDeployApplication, CodeDeployGroup, Role

ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.fixture
def codedeploy() -> Any:
    return boto3.client("codedeploy", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")


def _shift() -> Shift:
    return Shift("IngestFunction", "picops-ingest", "live", "3", "4", ("picops-IngestFunction-errors",))


def test_every_function_has_a_group_watching_its_own_alarms() -> None:
    model = build_model(Settings(), ACCOUNT, REGION)
    (app,) = model.of_type(CodeDeployApplication)
    groups = {g.function: g for g in model.of_type(CodeDeployGroup)}
    assert set(groups) == {spec.logical for spec in model.functions()}
    for spec in model.functions():
        group = groups[spec.logical]
        assert group.application_name == app.name
        assert sorted(group.alarms) == sorted(default_alarms(model, spec))
        desired = group.desired()
        assert desired["DeploymentStyle"] == {
            "DeploymentType": "BLUE_GREEN",
            "DeploymentOption": "WITH_TRAFFIC_CONTROL",
        }
        assert desired["AutoRollbackConfiguration"]["Events"] == [
            "DEPLOYMENT_FAILURE",
            "DEPLOYMENT_STOP_ON_ALARM",
        ]
    role = model.get("CodeDeployServiceRole")
    assert isinstance(role, Role)
    assert role.service == "codedeploy.amazonaws.com"
    policy = json.loads(role.document)
    resources = [r for statement in policy["Statement"] for r in statement["Resource"]]
    assert "*" not in resources
    assert {a for s in policy["Statement"] for a in s["Action"]} == {
        "lambda:GetAlias",
        "lambda:UpdateAlias",
        "lambda:GetProvisionedConcurrencyConfig",
        "cloudwatch:DescribeAlarms",
    }


def test_the_local_model_has_no_codedeploy() -> None:
    model = build_model(Settings(), ACCOUNT, REGION, local=True)
    assert model.of_type(CodeDeployApplication) == []
    assert model.of_type(CodeDeployGroup) == []


def test_predefined_configurations_are_the_strategies() -> None:
    assert sorted(PREDEFINED_CONFIGS) == sorted(s.codedeploy_config for s in PREDEFINED.values())


def test_the_export_carries_the_application_and_groups() -> None:
    settings = Settings()
    template = json.loads(render_template(template_model(settings), settings))
    resources = template["Resources"]
    assert resources["ReleasesApplication"]["Type"] == "AWS::CodeDeploy::Application"
    assert resources["ReleasesApplication"]["Properties"]["ComputePlatform"] == "Lambda"
    group = resources["IngestFunctionDeploymentGroup"]
    assert group["Type"] == "AWS::CodeDeploy::DeploymentGroup"
    props = group["Properties"]
    assert props["ApplicationName"] == {"Ref": "ReleasesApplication"}
    assert props["ServiceRoleArn"] == {"Fn::GetAtt": ["CodeDeployServiceRole", "Arn"]}
    assert props["AlarmConfiguration"]["Enabled"] is True
    assert props["AutoRollbackConfiguration"]["Events"] == ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]


def test_appspec_names_function_alias_and_both_versions() -> None:
    spec = json.loads(appspec(_shift()))
    assert spec == {
        "version": 0.0,
        "Resources": [
            {
                "IngestFunction": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Name": "picops-ingest",
                        "Alias": "live",
                        "CurrentVersion": "3",
                        "TargetVersion": "4",
                    },
                }
            }
        ],
    }


def _driver(codedeploy: Any, **kwargs: Any) -> CodeDeployDriver:
    return CodeDeployDriver(
        codedeploy, "picops-releases", {"IngestFunction": "picops-ingest"}, sleep=lambda _s: None, **kwargs
    )


def test_a_canary_is_one_deployment_followed_to_success(codedeploy: Any) -> None:
    shift = _shift()
    seen: list[str] = []
    with Stubber(codedeploy) as stub:
        stub.add_response(
            "create_deployment",
            {"deploymentId": "d-ABC"},
            {
                "applicationName": "picops-releases",
                "deploymentGroupName": "picops-ingest",
                "deploymentConfigName": "CodeDeployDefault.LambdaCanary10Percent5Minutes",
                "description": "picops deploy IngestFunction: version 3 -> 4",
                "revision": {"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec(shift)}},
            },
        )
        stub.add_response(
            "get_deployment", {"deploymentInfo": {"status": "InProgress"}}, {"deploymentId": "d-ABC"}
        )
        stub.add_response(
            "get_deployment", {"deploymentInfo": {"status": "Succeeded"}}, {"deploymentId": "d-ABC"}
        )
        driver = _driver(codedeploy, on_step=lambda _shift, status: seen.append(status))
        driver.start(parse_strategy("canary10-5m"), [shift])
        driver.follow([shift])
        stub.assert_no_pending_responses()
    assert (shift.outcome, shift.version) == ("succeeded", "4")
    assert seen == ["InProgress", "Succeeded"]


def test_an_alarm_stops_the_deployment_and_codedeploy_rolls_back(codedeploy: Any) -> None:
    shift = _shift()
    failed = {
        "status": "Stopped",
        "rollbackInfo": {"rollbackDeploymentId": "d-RB"},
        "errorInformation": {
            "code": "ALARM_ACTIVE",
            "message": "One or more alarms have been activated: picops-IngestFunction-errors",
        },
    }
    with Stubber(codedeploy) as stub:
        stub.add_response("create_deployment", {"deploymentId": "d-ABC"})
        stub.add_response("get_deployment", {"deploymentInfo": failed}, {"deploymentId": "d-ABC"})
        driver = _driver(codedeploy)
        driver.start(parse_strategy("linear10-1m"), [shift])
        driver.follow([shift])
    assert (shift.outcome, shift.alarm, shift.version) == ("rolled-back", "picops-IngestFunction-errors", "3")


def test_explicit_alarms_override_the_groups(codedeploy: Any) -> None:
    shift = _shift()
    with Stubber(codedeploy) as stub:
        stub.add_response(
            "create_deployment",
            {"deploymentId": "d-ABC"},
            {
                "applicationName": "picops-releases",
                "deploymentGroupName": "picops-ingest",
                "deploymentConfigName": "CodeDeployDefault.LambdaCanary10Percent10Minutes",
                "description": "picops deploy IngestFunction: version 3 -> 4",
                "revision": {"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec(shift)}},
                "overrideAlarmConfiguration": {
                    "enabled": True,
                    "ignorePollAlarmFailure": False,
                    "alarms": [{"name": "business-kpi"}],
                },
            },
        )
        _driver(codedeploy, alarms={"IngestFunction": ("business-kpi",)}).start(
            parse_strategy("canary10-10m"), [shift]
        )
        stub.assert_no_pending_responses()


def test_a_custom_strategy_creates_its_configuration_once(codedeploy: Any) -> None:
    strategy = parse_strategy("canary:20%:5min")
    with Stubber(codedeploy) as stub:
        stub.add_client_error(
            "get_deployment_config",
            "DeploymentConfigDoesNotExistException",
            expected_params={"deploymentConfigName": "picops-canary-20pct-5min"},
        )
        stub.add_response(
            "create_deployment_config",
            {"deploymentConfigId": "c-1"},
            {
                "deploymentConfigName": "picops-canary-20pct-5min",
                "computePlatform": "Lambda",
                "trafficRoutingConfig": {
                    "type": "TimeBasedCanary",
                    "timeBasedCanary": {"canaryPercentage": 20, "canaryInterval": 5},
                },
            },
        )
        stub.add_response(
            "get_deployment_config",
            {"deploymentConfigInfo": {"deploymentConfigName": "picops-canary-20pct-5min"}},
            {"deploymentConfigName": "picops-canary-20pct-5min"},
        )
        assert ensure_config(codedeploy, strategy) == "picops-canary-20pct-5min"
        assert ensure_config(codedeploy, strategy) == "picops-canary-20pct-5min"
        stub.assert_no_pending_responses()
    assert ensure_config(codedeploy, parse_strategy("linear10-2m")) == (
        "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes"
    )


def test_on_aws_the_release_goes_to_codedeploy_and_no_wait_detaches(monkeypatch: pytest.MonkeyPatch) -> None:
    from picops.aws import ClientFactory
    from picops.config import AwsSettings
    from picops.provision.release import run

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    factory = ClientFactory(AwsSettings(region=REGION))
    model = build_model(Settings(), ACCOUNT, REGION)
    client = factory.client("codedeploy")
    shift = _shift()
    reported: list[tuple[str, str]] = []
    hooks = run.Hooks(on_deployment=lambda s, status, deployment: reported.append((status, deployment)))
    request = run.Request(parse_strategy("canary10-5m"), no_wait=True)
    with Stubber(client) as stub:
        stub.add_response("create_deployment", {"deploymentId": "d-NOWAIT"})
        deployments: dict[str, str] = {}
        run._shift(factory, model, request, run.Watched(), hooks, [shift], deployments)  # no GetDeployment
        stub.assert_no_pending_responses()
    assert reported == [("Created", "d-NOWAIT")]
    assert deployments == {"IngestFunction": "d-NOWAIT"}  # recorded with the release, read back later
    assert (shift.outcome, shift.version) == ("in-progress", "3")


def test_a_detached_release_is_read_back_as_its_deployment_ended(codedeploy: Any) -> None:
    """`deploy --no-wait` records the release in progress with its deployment id; `deploy status` and
    `deploy history` then show the outcome CodeDeploy reached without picops."""
    from picops.provision.release import history
    from picops.provision.release.codedeploy import resolve

    started = history.Record(
        "IngestFunction",
        "4",
        "3",
        history.now(),
        "arn:aws:iam::1:user/ops",
        "canary10-5m",
        "in-progress",
        deployment="d-ABC",
    )
    key, value = started.tag()
    assert history.parse("IngestFunction", key, value) == started  # the id survives the tag
    alarms = ("picops-IngestFunction-errors",)
    stopped = {
        "status": "Stopped",
        "rollbackInfo": {"rollbackDeploymentId": "d-RB"},
        "errorInformation": {"code": "ALARM_ACTIVE", "message": f"alarms activated: {alarms[0]}"},
    }
    with Stubber(codedeploy) as stub:
        stub.add_response(
            "get_deployment", {"deploymentInfo": {"status": "InProgress"}}, {"deploymentId": "d-ABC"}
        )
        stub.add_response("get_deployment", {"deploymentInfo": stopped}, {"deploymentId": "d-ABC"})
        assert resolve(codedeploy, started, alarms) == started  # still shifting: as recorded
        ended = resolve(codedeploy, started, alarms)
    assert (ended.outcome, ended.alarm, ended.deployment) == ("rolled-back", alarms[0], "d-ABC")
    # A record that ended under picops's eyes, or a local one (no deployment), asks CodeDeploy nothing.
    with Stubber(codedeploy):
        finished = history.Record("IngestFunction", "4", "3", history.now(), "me", "canary10-5m", "succeeded")
        assert resolve(codedeploy, finished, alarms) is finished


def test_provision_creates_and_updates_each_group_with_the_api_shape_aws_expects(codedeploy: Any) -> None:
    from types import SimpleNamespace

    from picops.provision.kinds import codedeploy_group

    model = build_model(Settings(), ACCOUNT, REGION)
    group = next(g for g in model.of_type(CodeDeployGroup) if g.function == "IngestFunction")
    ctx: Any = SimpleNamespace(client=lambda _service: codedeploy)
    settings = {
        "deploymentConfigName": group.config_name,
        "serviceRoleArn": group.service_role_arn,
        "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        "autoRollbackConfiguration": {
            "enabled": True,
            "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
        },
        "alarmConfiguration": {
            "enabled": True,
            "ignorePollAlarmFailure": False,
            "alarms": [{"name": name} for name in group.alarms],
        },
    }
    with Stubber(codedeploy) as stub:
        stub.add_response(
            "create_deployment_group",
            {"deploymentGroupId": "g-1"},
            {"applicationName": group.application_name, "deploymentGroupName": group.name, **settings},
        )
        stub.add_response(
            "update_deployment_group",
            {},
            {"applicationName": group.application_name, "currentDeploymentGroupName": group.name, **settings},
        )
        codedeploy_group.apply(group, SimpleNamespace(action="create"), ctx)  # type: ignore[arg-type]
        codedeploy_group.apply(group, SimpleNamespace(action="update"), ctx)  # type: ignore[arg-type]
        stub.assert_no_pending_responses()
    assert group.alarms  # the group watches the function's own alarms
