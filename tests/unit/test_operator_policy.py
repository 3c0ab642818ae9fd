"""`picops provision --print-policy`: the permissions picops itself needs, from the same model."""

from __future__ import annotations

import json
from typing import Any

import pytest
from parliament import analyze_policy_string

from picops.config import Settings
from picops.stack.build import build_model
from picops.stack.iam import WILDCARD_ONLY_ACTIONS
from picops.stack.names import partition_of
from picops.stack.operator_policy import STAR_ACTIONS, operator_policy

# parliament findings that are the nature of a deployer, and why each is acceptable here: every one of
# these actions is scoped to the stack's own roles, functions, queues, topics and buckets.
ACCEPTED = {
    "PERMISSIONS_MANAGEMENT_ACTIONS": "provision writes the stack's own role, bucket, queue, topic and "
    "function policies (that is its job); each is scoped to the stack's ARNs",
    "PRIVILEGE_ESCALATION": "deploying Lambda code that runs with the stack's roles is what deploy does; "
    "PassRole is limited to the stack's roles and to Lambda / S3 Batch Operations",
    "RESOURCE_POLICY_PRIVILEGE_ESCALATION": "s3:DeleteObject is left out because nothing picops does calls "
    "it (destroy deletes by version id), not as a boundary: the operator writes the stack buckets' policies "
    "and lifecycle rules, which is provision's job",
}


def _stale_table(finding: Any) -> bool:
    """parliament's bundled action table lists only the access-point resource for the object-attributes
    actions; the Service Authorization Reference gives them the `object*` resource type, which is what
    they are granted on here."""
    attributes = {"s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"}
    return finding.issue == "RESOURCE_MISMATCH" and {d["action"] for d in finding.detail} <= attributes


@pytest.mark.parametrize("region", ["us-east-1", "eu-central-1", "cn-north-1", "us-gov-west-1"])
def test_operator_policy_is_scoped_and_lint_clean(region: str) -> None:
    model = build_model(Settings(), "123456789012", region)
    document = operator_policy(model)
    findings = analyze_policy_string(json.dumps(document), include_community_auditors=True).findings
    assert sorted({f.issue for f in findings if not _stale_table(f)} - set(ACCEPTED)) == []
    partition = partition_of(region)
    for statement in document["Statement"]:
        for resource in statement["Resource"]:
            if resource == "*":
                assert set(statement["Action"]) <= set(STAR_ACTIONS) | {"lambda:CreateEventSourceMapping"}
                continue
            assert resource.startswith(f"arn:{partition}:"), resource
            # Names the stack's resources, except what has no name before it exists (API ids, mapping
            # UUIDs, Batch Operations job ids, KMS key ids: the keys' aliases are named beside them).
            # CodeDeploy's predefined deployment configurations are AWS's, named by AWS.
            known = (
                "picops",
                "/apis",
                "job/",
                "mapping",
                ":key/*",
                "deploymentconfig:CodeDeployDefault.Lambda",
            )
            assert any(part in resource for part in known), resource
    actions = {a for s in document["Statement"] for a in s["Action"]}
    assert {"s3:CreateBucket", "lambda:UpdateFunctionCode", "sqs:PurgeQueue", "iam:PassRole"} <= actions
    assert not WILDCARD_ONLY_ACTIONS & actions


# What picops calls that the first printed policy lacked (each was AccessDenied on a first real plan).
CALLED = {
    "s3:GetBucketLogging",
    "s3:PutBucketLogging",
    "s3:GetLifecycleConfiguration",
    "s3:PutLifecycleConfiguration",
    "lambda:GetFunctionConcurrency",
    "lambda:PutFunctionConcurrency",
    "lambda:DeleteFunctionConcurrency",
    "lambda:GetAccountSettings",
    "cloudwatch:GetDashboard",
    "cloudwatch:PutDashboard",
    "cloudwatch:DeleteDashboards",
    "cloudwatch:GetMetricStatistics",
    "kms:CreateKey",
    "kms:DescribeKey",
    "kms:CreateAlias",
    "kms:PutKeyPolicy",
    "kms:EnableKeyRotation",
    "kms:GetKeyRotationStatus",
    "kms:GetKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:DeleteAlias",
    "dynamodb:Scan",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:BatchWriteItem",
    "sns:Publish",
    "logs:CreateLogDelivery",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
}


def test_operator_policy_grants_every_action_picops_calls() -> None:
    document = operator_policy(build_model(Settings(), "123456789012", "us-east-1"))
    actions = {a for s in document["Statement"] for a in s["Action"]}
    assert sorted(CALLED - actions) == []


def test_key_actions_name_the_stack_key_aliases() -> None:
    document = operator_policy(build_model(Settings(), "123456789012", "us-east-1"))
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    assert by_sid["StackKeyAliases"]["Resource"] == [
        "arn:aws:kms:us-east-1:123456789012:alias/picops-alerts",
        "arn:aws:kms:us-east-1:123456789012:alias/picops-topics",
        "arn:aws:kms:us-east-1:123456789012:key/*",
    ]
    assert by_sid["StackDashboards"]["Resource"] == [
        "arn:aws:cloudwatch::123456789012:dashboard/picops-pipelines"
    ]


def test_print_policy_prints_one_json_document(cli: Any, endpoint: str) -> None:
    result = cli("provision", "--print-policy", endpoint=endpoint)
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert document["Version"] == "2012-10-17"
    sids = {s["Sid"] for s in document["Statement"]}
    assert {"StackBuckets", "StackFunctions", "PassStackRoles", "OnlyOnStar"} <= sids
    assert "target:" in result.stderr


def _no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "PICOPS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.chdir(tmp_path)


def test_print_policy_needs_no_credentials(cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    # An admin is handed this policy before the operator has any access: no STS call may be made.
    _no_credentials(monkeypatch, tmp_path)
    result = cli("--region", "eu-west-1", "provision", "--print-policy")
    assert result.exit_code == 0, result.stderr
    arns = [r for s in result.json()["Statement"] for r in s["Resource"] if r != "*"]
    assert any(":${aws:PrincipalAccount}:" in arn for arn in arns)
    assert "${aws:PrincipalAccount}" in result.stderr
    assert "--account" in result.stderr


def test_print_policy_names_the_given_account(
    cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    _no_credentials(monkeypatch, tmp_path)
    result = cli("--region", "eu-west-1", "provision", "--print-policy", "--account", "210987654321")
    assert result.exit_code == 0, result.stderr
    text = json.dumps(result.json())
    assert "arn:aws:sqs:eu-west-1:210987654321:picops-" in text
    assert "PrincipalAccount" not in text
    bad = cli("provision", "--print-policy", "--account", "12345")
    assert bad.exit_code == 2
    assert "12-digit" in bad.stderr
