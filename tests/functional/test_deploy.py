"""ensure_function / deploy_functions / rollback_function against in-process moto, API calls counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from picops.aws import ClientFactory
from picops.config import Settings
from picops.errors import EndpointUnreachable, OperationFailed, ResourceMissing, UsageError
from picops.provision import propagation
from picops.provision.bundle import Bundle, BundleTooLarge, build_bundle
from picops.provision.deploy import (
    deploy_functions,
    ensure_function,
    rollback_function,
    select_functions,
)
from picops.stack.build import build_model
from picops.stack.model import FunctionSpec, StackModel
from tests.deploy_support import CallCounter, bundle_settings, create_roles

MUTATING = {
    "CreateFunction",
    "UpdateFunctionCode",
    "UpdateFunctionConfiguration",
    "PublishVersion",
    "CreateAlias",
    "UpdateAlias",
    "PutObject",
    "CreateMultipartUpload",
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("deploy-cache")


@pytest.fixture(scope="module")
def bundle_a(cache: Path) -> Bundle:
    return build_bundle(bundle_settings(cache), out_dir=cache / "a")


@pytest.fixture(scope="module")
def bundle_b(cache: Path) -> Bundle:
    """Different code: the same picops sources with fewer dependencies."""
    return build_bundle(bundle_settings(cache, dependencies=["pydantic"]), out_dir=cache / "b")


@pytest.fixture
def settings(cache: Path) -> Settings:
    return bundle_settings(cache)


@pytest.fixture
def model(aws: ClientFactory, settings: Settings) -> StackModel:
    stack = build_model(settings, aws.account_id(), aws.region)
    create_roles(aws, stack.functions())
    return stack


@pytest.fixture
def spec(model: StackModel) -> FunctionSpec:
    return model.functions()[0]


@pytest.fixture
def counter(aws: ClientFactory) -> CallCounter:
    counter = CallCounter()
    counter.attach(aws.client("lambda"))
    counter.attach(aws.client("s3"))
    return counter


def _mutations(counter: CallCounter) -> dict[str, int]:
    return {op: n for op, n in counter.calls.items() if op in MUTATING}


def _live(aws: ClientFactory, spec: FunctionSpec) -> tuple[str, str]:
    lam = aws.client("lambda")
    version = lam.get_alias(FunctionName=spec.name, Name="live")["FunctionVersion"]
    sha = lam.get_function_configuration(FunctionName=spec.name, Qualifier=version)["CodeSha256"]
    return version, sha


def test_create_then_redeploy_unchanged_makes_no_mutating_call(
    aws: ClientFactory, settings: Settings, spec: FunctionSpec, bundle_a: Bundle, counter: CallCounter
) -> None:
    created = ensure_function(aws, settings, spec, bundle_a, spec.role_arn)
    assert created.action == "created"
    assert created.version == "1"
    assert _live(aws, spec) == ("1", bundle_a.code_sha256)
    config = aws.client("lambda").get_function_configuration(FunctionName=spec.name)
    assert config["Handler"] == spec.handler
    assert config["Environment"]["Variables"] == spec.env
    assert config["Architectures"] == [spec.architecture]
    assert config["Timeout"] == spec.timeout_s
    assert config["MemorySize"] == spec.memory_mb

    counter.calls.clear()
    again = ensure_function(aws, settings, spec, bundle_a, spec.role_arn)
    assert again.action == "unchanged"
    assert again.version == "1"
    assert again.code_sha256 == bundle_a.code_sha256
    assert _mutations(counter) == {}
    assert counter["UpdateFunctionCode"] == 0


def test_code_change_updates_publishes_and_moves_live(
    aws: ClientFactory,
    settings: Settings,
    spec: FunctionSpec,
    bundle_a: Bundle,
    bundle_b: Bundle,
    counter: CallCounter,
) -> None:
    ensure_function(aws, settings, spec, bundle_a, spec.role_arn)
    counter.calls.clear()
    result = ensure_function(aws, settings, spec, bundle_b, spec.role_arn)
    assert result.action == "updated"
    assert result.version == "2"
    assert result.previous_version == "1"
    assert result.changes == ("code", "alias")
    assert _live(aws, spec) == ("2", bundle_b.code_sha256)
    assert _mutations(counter) == {"UpdateFunctionCode": 1, "PublishVersion": 1, "UpdateAlias": 1}


def test_configuration_drift_sends_only_the_differing_fields(
    aws: ClientFactory, settings: Settings, spec: FunctionSpec, bundle_a: Bundle, counter: CallCounter
) -> None:
    ensure_function(aws, settings, spec, bundle_a, spec.role_arn)
    lam = aws.client("lambda")
    lam.update_function_configuration(
        FunctionName=spec.name, Timeout=spec.timeout_s + 7, Environment={"Variables": {"ROGUE": "1"}}
    )
    sent: list[dict[str, Any]] = []
    lam.meta.events.register(
        "before-parameter-build.lambda.UpdateFunctionConfiguration",
        lambda params, **_: sent.append(dict(params)),
    )
    counter.calls.clear()
    result = ensure_function(aws, settings, spec, bundle_a, spec.role_arn)
    assert result.action == "updated"
    assert result.changes == ("Environment", "Timeout", "alias")
    assert counter["UpdateFunctionCode"] == 0
    assert len(sent) == 1
    assert set(sent[0]) == {"FunctionName", "Timeout", "Environment"}
    config = lam.get_function_configuration(FunctionName=spec.name, Qualifier="live")
    assert config["Timeout"] == spec.timeout_s
    assert config["Environment"]["Variables"] == spec.env


def test_dry_run_reports_without_mutating(
    aws: ClientFactory,
    settings: Settings,
    model: StackModel,
    bundle_a: Bundle,
    bundle_b: Bundle,
    counter: CallCounter,
) -> None:
    first, second = model.functions()[:2]
    ensure_function(aws, settings, first, bundle_a, first.role_arn)
    counter.calls.clear()
    would_update = ensure_function(aws, settings, first, bundle_b, first.role_arn, dry_run=True)
    would_create = ensure_function(aws, settings, second, bundle_b, second.role_arn, dry_run=True)
    assert (would_update.action, would_update.version, would_update.changes) == (
        "updated",
        "1",
        ("code", "alias"),
    )
    assert (would_create.action, would_create.version) == ("created", None)
    assert _mutations(counter) == {}
    assert _live(aws, first) == ("1", bundle_a.code_sha256)


def test_deploy_refuses_missing_functions_before_any_change(
    aws: ClientFactory, settings: Settings, model: StackModel, bundle_a: Bundle, counter: CallCounter
) -> None:
    specs = model.functions()
    ensure_function(aws, settings, specs[0], bundle_a, specs[0].role_arn)
    counter.calls.clear()
    with pytest.raises(ResourceMissing) as err:
        deploy_functions(aws, settings, specs, bundle_a)
    assert err.value.exit_code == 3
    assert "picops provision" in str(err.value)
    assert specs[1].logical in str(err.value)
    assert specs[0].logical not in err.value.message
    assert _mutations(counter) == {}


def test_one_failing_function_does_not_stop_the_others(
    aws: ClientFactory,
    settings: Settings,
    model: StackModel,
    bundle_a: Bundle,
    bundle_b: Bundle,
) -> None:
    specs = model.functions()[:3]
    for spec in specs:
        ensure_function(aws, settings, spec, bundle_a, spec.role_arn)

    def throttle(params: dict[str, Any], **_: Any) -> None:
        if params["FunctionName"] == specs[1].name:
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "ServiceException", "Message": "injected failure"}}, "UpdateFunctionCode"
            )

    aws.client("lambda").meta.events.register("before-parameter-build.lambda.UpdateFunctionCode", throttle)
    results = deploy_functions(aws, settings, specs, bundle_b)
    assert [r.action for r in results] == ["updated", "failed", "updated"]
    assert "injected failure" in (results[1].error or "")
    assert _live(aws, specs[1]) == ("1", bundle_a.code_sha256)
    assert _live(aws, specs[2]) == ("2", bundle_b.code_sha256)


def test_rollback_moves_live_back_one_version(
    aws: ClientFactory,
    settings: Settings,
    spec: FunctionSpec,
    bundle_a: Bundle,
    bundle_b: Bundle,
    counter: CallCounter,
) -> None:
    ensure_function(aws, settings, spec, bundle_a, spec.role_arn)
    ensure_function(aws, settings, spec, bundle_b, spec.role_arn)
    dry = rollback_function(aws, spec, dry_run=True)
    assert (dry.version, dry.previous_version) == ("1", "2")
    assert _live(aws, spec)[0] == "2"

    result = rollback_function(aws, spec)
    assert (result.action, result.version, result.previous_version) == ("rolled_back", "1", "2")
    assert result.code_sha256 == bundle_a.code_sha256
    assert _live(aws, spec) == ("1", bundle_a.code_sha256)

    with pytest.raises(OperationFailed, match="no earlier published version") as err:
        rollback_function(aws, spec)
    assert err.value.exit_code == 1

    # Deploying the current code again moves live forward without uploading code.
    counter.calls.clear()
    forward = ensure_function(aws, settings, spec, bundle_b, spec.role_arn)
    assert forward.action == "updated"
    assert forward.changes == ("alias",)
    assert counter["UpdateFunctionCode"] == 0
    assert _live(aws, spec)[1] == bundle_b.code_sha256


def test_rollback_needs_the_function_and_its_alias(
    aws: ClientFactory, model: StackModel, spec: FunctionSpec, bundle_a: Bundle
) -> None:
    with pytest.raises(ResourceMissing, match="does not exist"):
        rollback_function(aws, spec)
    aws.client("lambda").create_function(
        FunctionName=spec.name,
        Runtime=spec.runtime,
        Role=spec.role_arn,
        Handler=spec.handler,
        Code={"ZipFile": bundle_a.read_bytes()},
    )
    with pytest.raises(ResourceMissing, match="no alias 'live'") as err:
        rollback_function(aws, spec)
    assert err.value.exit_code == 3


def test_oversized_bundle_goes_through_the_artifacts_bucket(
    aws: ClientFactory, cache: Path, spec: FunctionSpec, counter: CallCounter
) -> None:
    settings = bundle_settings(cache, direct_upload_limit_mb=1, artifacts_bucket="picops-artifacts")
    big = build_bundle(settings, out_dir=cache / "big")
    assert big.needs_s3_upload
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="picops-artifacts")
    sent: list[dict[str, Any]] = []
    aws.client("lambda").meta.events.register(
        "before-parameter-build.lambda.CreateFunction", lambda params, **_: sent.append(dict(params["Code"]))
    )
    result = ensure_function(aws, settings, spec, big, spec.role_arn)
    key = f"picops/picops/lambda/{big.sha256_hex}.zip"
    assert sent == [{"S3Bucket": "picops-artifacts", "S3Key": key}]
    assert s3.get_object(Bucket="picops-artifacts", Key=key)["Body"].read() == big.read_bytes()
    assert result.action == "created"
    assert _live(aws, spec) == ("1", big.code_sha256)
    counter.calls.clear()
    assert ensure_function(aws, settings, spec, big, spec.role_arn).action == "unchanged"
    assert _mutations(counter) == {}


def test_oversized_bundle_without_artifacts_bucket_is_exit_2(
    aws: ClientFactory, cache: Path, model: StackModel, bundle_a: Bundle, counter: CallCounter
) -> None:
    settings = bundle_settings(cache, direct_upload_limit_mb=1)
    big = build_bundle(settings, out_dir=cache / "big2")
    spec = model.functions()[0]
    with pytest.raises(BundleTooLarge, match=r"set \[deploy\] artifacts_bucket") as err:
        ensure_function(aws, settings, spec, big, spec.role_arn)
    assert err.value.exit_code == 2
    ensure_function(aws, bundle_settings(cache), spec, bundle_a, spec.role_arn)
    counter.calls.clear()
    with pytest.raises(BundleTooLarge):
        deploy_functions(aws, settings, [spec], big, dry_run=True)
    assert _mutations(counter) == {}


def test_create_waits_out_iam_role_propagation(
    aws: ClientFactory,
    settings: Settings,
    spec: FunctionSpec,
    bundle_a: Bundle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(propagation, "FIRST_STEP_S", 0.0)
    attempts: list[int] = []

    def not_yet(**_: Any) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise botocore.exceptions.ClientError(
                {
                    "Error": {
                        "Code": "InvalidParameterValueException",
                        "Message": "The role defined for the function cannot be assumed by Lambda.",
                    }
                },
                "CreateFunction",
            )

    aws.client("lambda").meta.events.register("before-call.lambda.CreateFunction", not_yet)
    assert ensure_function(aws, settings, spec, bundle_a, spec.role_arn).action == "created"
    assert len(attempts) == 3


def test_select_functions_by_logical_or_physical_name(model: StackModel) -> None:
    specs = model.functions()
    assert select_functions(model, []) == specs
    chosen = select_functions(model, [specs[2].name, specs[0].logical])
    assert chosen == [specs[0], specs[2]]
    with pytest.raises(UsageError, match="unknown function: NoSuchFunction") as err:
        select_functions(model, ["NoSuchFunction"])
    assert err.value.exit_code == 2


def test_unreachable_endpoint_stops_the_deploy_instead_of_failing_each_function(
    aws: ClientFactory, settings: Settings, model: StackModel, bundle_a: Bundle, bundle_b: Bundle
) -> None:
    specs = model.functions()[:2]
    for spec in specs:
        ensure_function(aws, settings, spec, bundle_a, spec.role_arn)

    def unreachable(**_: Any) -> None:
        raise botocore.exceptions.EndpointConnectionError(
            endpoint_url="https://lambda.us-east-1.amazonaws.com"
        )

    lam = aws.client("lambda")
    lam.meta.events.register("before-parameter-build.lambda.UpdateFunctionCode", unreachable)
    with pytest.raises(EndpointUnreachable) as err:
        deploy_functions(aws, settings, specs, bundle_b)
    assert err.value.exit_code == 3
    lam.meta.events.unregister("before-parameter-build.lambda.UpdateFunctionCode", unreachable)
    assert _live(aws, specs[1]) == ("1", bundle_a.code_sha256)  # the second function was not attempted


def test_tracing_is_created_active_and_turning_it_off_or_on_sends_only_tracing_config(
    aws: ClientFactory, settings: Settings, spec: FunctionSpec, bundle_a: Bundle
) -> None:
    import dataclasses

    lam = aws.client("lambda")
    traced = dataclasses.replace(spec, tracing=True)
    ensure_function(aws, settings, traced, bundle_a, spec.role_arn)
    assert lam.get_function_configuration(FunctionName=spec.name)["TracingConfig"]["Mode"] == "Active"
    assert ensure_function(aws, settings, traced, bundle_a, spec.role_arn).action == "unchanged"
    sent: list[dict[str, Any]] = []
    lam.meta.events.register(
        "before-parameter-build.lambda.UpdateFunctionConfiguration",
        lambda params, **_: sent.append(dict(params)),
    )
    # (moto keeps a function's TracingConfig from CreateFunction: the update is judged by what is sent.)
    assert ensure_function(aws, settings, spec, bundle_a, spec.role_arn).action == "updated"
    assert sent == [{"FunctionName": spec.name, "TracingConfig": {"Mode": "PassThrough"}}]
