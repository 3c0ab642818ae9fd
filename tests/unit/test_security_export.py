"""The CloudFormation export against checkov: every failure must be on the commented skip list
(security/checkov-skips.toml). checkov itself runs when an executable is found (CHECKOV=/path or on PATH; it
cannot share the project's environment); the same checks also run here as assertions over the export, always.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from picops.config import load_settings
from picops.provision.cloudformation import render, template_model

SKIPS_FILE = Path(__file__).parents[2] / "security" / "checkov-skips.toml"
Template = dict[str, Any]
Check = Callable[[str, dict[str, Any], Template], bool]


def _skips() -> set[tuple[str, str]]:
    data = tomllib.loads(SKIPS_FILE.read_text())
    return {(check, resource) for check, entry in data.items() for resource in entry["resources"]}


def _template(**sections: dict[str, Any]) -> Template:
    settings = load_settings(overrides=sections, use_files=False)
    return render(template_model(settings), settings)


def _of(template: Template, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical, body in template["Resources"].items():
        if body["Type"] == kind:
            yield logical, body.get("Properties", {})


# -- the checks (checkov ids; each returns True when the resource passes) ------------------------------------


def _sns_encrypted(logical: str, props: dict[str, Any], template: Template) -> bool:  # CKV_AWS_26
    return bool(props.get("KmsMasterKeyId"))


def _s3_logging(logical: str, props: dict[str, Any], template: Template) -> bool:  # CKV_AWS_18
    target = props.get("LoggingConfiguration", {}).get("DestinationBucketName")
    return isinstance(target, dict) and target.get("Ref") in template["Resources"]


def _s3_versioning(logical: str, props: dict[str, Any], template: Template) -> bool:  # CKV_AWS_21
    return bool(props.get("VersioningConfiguration", {}).get("Status") == "Enabled")


def _s3_public_access(logical: str, props: dict[str, Any], template: Template) -> bool:  # CKV_AWS_53-56
    block = props.get("PublicAccessBlockConfiguration", {})
    keys = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    return all(block.get(k) is True for k in keys)


def _s3_encrypted(logical: str, props: dict[str, Any], template: Template) -> bool:  # CKV_AWS_19
    rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    return bool(rules) and all(r["ServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules)


def _s3_tls_only(logical: str, props: dict[str, Any], template: Template) -> bool:  # CKV_AWS_379-ish
    for _, policy in _of(template, "AWS::S3::BucketPolicy"):
        if policy["Bucket"] == {"Ref": logical}:
            return any(
                s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
                for s in policy["PolicyDocument"]["Statement"]
            )
    return False


def _dynamodb_pitr(logical: str, props: dict[str, Any], template: Template) -> bool:  # CKV_AWS_28
    return bool(props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"))


def _dynamodb_cmk(logical: str, props: dict[str, Any], template: Template) -> bool:  # CKV_AWS_119
    return bool(props.get("SSESpecification", {}).get("KMSMasterKeyId"))


def _kms_rotation(logical: str, props: dict[str, Any], template: Template) -> bool:  # CKV_AWS_7
    return props.get("EnableKeyRotation") is True


def _kms_no_wildcard_principal(logical: str, props: dict[str, Any], template: Template) -> bool:  # CKV_AWS_33
    for statement in props["KeyPolicy"]["Statement"]:
        principal = statement.get("Principal")
        if statement["Effect"] == "Allow" and (principal == "*" or principal == {"AWS": "*"}):
            return False
    return True


def _sqs_kms(logical: str, props: dict[str, Any], template: Template) -> bool:  # CKV_AWS_27 (checkov's view)
    return bool(props.get("KmsMasterKeyId"))


def _sqs_encrypted(logical: str, props: dict[str, Any], template: Template) -> bool:  # what it should check
    return bool(props.get("KmsMasterKeyId")) or props.get("SqsManagedSseEnabled") is True


def _log_retention(logical: str, props: dict[str, Any], template: Template) -> bool:  # CKV_AWS_66
    return isinstance(props.get("RetentionInDays"), int)


def _log_kms(logical: str, props: dict[str, Any], template: Template) -> bool:  # CKV_AWS_158
    return bool(props.get("KmsKeyId"))


def _api_access_logs(logical: str, props: dict[str, Any], template: Template) -> bool:  # CKV_AWS_76 (v2)
    settings = props.get("AccessLogSettings", {})
    return bool(settings.get("DestinationArn")) and bool(settings.get("Format"))


def _api_throttled(logical: str, props: dict[str, Any], template: Template) -> bool:
    routes = props.get("DefaultRouteSettings", {})
    return routes.get("ThrottlingRateLimit", 0) > 0 and routes.get("ThrottlingBurstLimit", 0) > 0


def _lambda_dlq(logical: str, props: dict[str, Any], template: Template) -> bool:  # CKV_AWS_116
    return bool(props.get("DeadLetterConfig", {}).get("TargetArn"))


def _lambda_vpc(logical: str, props: dict[str, Any], template: Template) -> bool:  # CKV_AWS_117
    return bool(props.get("VpcConfig"))


def _lambda_concurrency(logical: str, props: dict[str, Any], template: Template) -> bool:  # CKV_AWS_115
    return "ReservedConcurrentExecutions" in props


def _lambda_env_kms(logical: str, props: dict[str, Any], template: Template) -> bool:  # CKV_AWS_173
    return bool(props.get("KmsKeyArn"))


def _rule_target_dlq(logical: str, props: dict[str, Any], template: Template) -> bool:
    return all(t.get("DeadLetterConfig") and t.get("RetryPolicy") for t in props["Targets"])


CHECKS: dict[str, tuple[str, Check]] = {
    "CKV_AWS_26": ("AWS::SNS::Topic", _sns_encrypted),
    "CKV_AWS_18": ("AWS::S3::Bucket", _s3_logging),
    "CKV_AWS_21": ("AWS::S3::Bucket", _s3_versioning),
    "CKV_AWS_53": ("AWS::S3::Bucket", _s3_public_access),
    "CKV_AWS_19": ("AWS::S3::Bucket", _s3_encrypted),
    "PICOPS_S3_TLS": ("AWS::S3::Bucket", _s3_tls_only),
    "CKV_AWS_28": ("AWS::DynamoDB::Table", _dynamodb_pitr),
    "CKV_AWS_119": ("AWS::DynamoDB::Table", _dynamodb_cmk),
    "CKV_AWS_7": ("AWS::KMS::Key", _kms_rotation),
    "CKV_AWS_33": ("AWS::KMS::Key", _kms_no_wildcard_principal),
    "CKV_AWS_27": ("AWS::SQS::Queue", _sqs_kms),
    "PICOPS_SQS_SSE": ("AWS::SQS::Queue", _sqs_encrypted),
    "CKV_AWS_66": ("AWS::Logs::LogGroup", _log_retention),
    "CKV_AWS_158": ("AWS::Logs::LogGroup", _log_kms),
    "CKV_AWS_76": ("AWS::ApiGatewayV2::Stage", _api_access_logs),
    "PICOPS_API_THROTTLE": ("AWS::ApiGatewayV2::Stage", _api_throttled),
    "CKV_AWS_116": ("AWS::Lambda::Function", _lambda_dlq),
    "CKV_AWS_117": ("AWS::Lambda::Function", _lambda_vpc),
    "CKV_AWS_115": ("AWS::Lambda::Function", _lambda_concurrency),
    "CKV_AWS_173": ("AWS::Lambda::Function", _lambda_env_kms),
    "PICOPS_RULE_DLQ": ("AWS::Events::Rule", _rule_target_dlq),
}


def failures(template: Template) -> set[tuple[str, str]]:
    found = set()
    for check, (kind, passes) in CHECKS.items():
        for logical, props in _of(template, kind):
            if not passes(logical, props, template):
                found.add((check, logical))
    return found


def test_the_export_fails_only_listed_checks() -> None:
    template = _template()
    new = failures(template) - _skips()
    assert not new, (
        f"new security check failures (fix them, or list them with a reason in {SKIPS_FILE}): {new}"
    )
    # Every resource type the checks cover is in the export (a check over nothing proves nothing).
    kinds = {body["Type"] for body in template["Resources"].values()}
    assert {kind for kind, _ in CHECKS.values()} <= kinds


def test_every_skip_is_still_needed_and_commented() -> None:
    template = _template()
    found = failures(template)
    for check, resource in _skips():
        assert resource in template["Resources"], f"{check} skips {resource}, which the export lacks"
        if check in CHECKS:
            assert (check, resource) in found, (
                f"{check} no longer fails for {resource}: drop it from the list"
            )
    text = SKIPS_FILE.read_text()
    for check in {c for c, _ in _skips()}:
        header = text.index(f"[{check}]")
        assert text[header:].split("\n", 2)[1].startswith("# "), f"{check} has no reason"


def test_the_checks_fail_without_the_security_defaults() -> None:
    """Each default this issue added is caught when it is missing."""
    template = _template(stack={"access_logs": False})
    assert ("CKV_AWS_18", "UploadsBucket") in failures(template)
    template = _template()
    template["Resources"]["NotifyTopic"]["Properties"].pop("KmsMasterKeyId")
    template["Resources"]["ModerationTable"]["Properties"]["PointInTimeRecoverySpecification"] = {
        "PointInTimeRecoveryEnabled": False
    }
    template["Resources"]["BookingsApiDefaultStage"]["Properties"].pop("AccessLogSettings")
    template["Resources"]["BookingsApiDefaultStage"]["Properties"].pop("DefaultRouteSettings")
    template["Resources"]["SweepSchedule"]["Properties"]["Targets"][0].pop("DeadLetterConfig")
    assert {
        ("CKV_AWS_26", "NotifyTopic"),
        ("CKV_AWS_28", "ModerationTable"),
        ("CKV_AWS_76", "BookingsApiDefaultStage"),
        ("PICOPS_API_THROTTLE", "BookingsApiDefaultStage"),
        ("PICOPS_RULE_DLQ", "SweepSchedule"),
    } <= failures(template) - _skips()


def test_the_export_carries_the_security_resources() -> None:
    resources = _template()["Resources"]
    assert resources["AlertsKey"]["Type"] == "AWS::KMS::Key"
    assert resources["AlertsKeyAlias"]["Properties"]["TargetKeyId"] == {"Ref": "AlertsKey"}
    assert resources["AlertsTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlertsKey"}
    assert resources["BookingTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "TopicsKey"}
    # The key policy names roles: CloudFormation must create them first.
    assert "IngestFunctionRole" in resources["TopicsKey"]["DependsOn"]
    stage = resources["BookingsApiDefaultStage"]
    assert stage["DependsOn"] == ["BookingsApiAccessLogs"]
    target = resources["SweepSchedule"]["Properties"]["Targets"][0]
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["SweepDLQ", "Arn"]}}
    assert (
        resources["AccessLogsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"]
        == 90
    )
    assert resources["UploadsBucket"]["Properties"]["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": "AccessLogsBucket"},
        "LogFilePrefix": "uploads/",
    }
    jwt = _template(
        bookings={"authorizer": "jwt", "jwt_issuer": "https://idp.example.com", "jwt_audience": ("a",)}
    )["Resources"]
    assert jwt["BookingsApiAuthorizer"]["Type"] == "AWS::ApiGatewayV2::Authorizer"
    assert jwt["BookingsApiCreateRoute"]["Properties"]["AuthorizerId"] == {"Ref": "BookingsApiAuthorizer"}
    assert jwt["BookingsApiCreateRoute"]["Properties"]["AuthorizationType"] == "JWT"


def _checkov() -> str | None:
    return os.environ.get("CHECKOV") or shutil.which("checkov")


@pytest.mark.slow
@pytest.mark.skipif(_checkov() is None, reason="no checkov executable (set CHECKOV=/path/to/checkov)")
def test_checkov_itself_finds_only_listed_failures(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(_template()))
    result = subprocess.run(
        [str(_checkov()), "-f", str(path), "--framework", "cloudformation", "-o", "json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(result.stdout)
    failed = {(c["check_id"], c["resource"].rsplit(".", 1)[-1]) for c in report["results"]["failed_checks"]}
    new = failed - _skips()
    assert not new, f"checkov failures not on {SKIPS_FILE}: {sorted(new)}"
    assert report["summary"]["passed"] > 0
