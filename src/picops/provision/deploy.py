"""Ship a bundle to Lambda functions: code and configuration only when they differ, a published version, and
the alias (`live`) that event sources and the API invoke moved onto it. Rollback moves the alias back.

Idempotence rests on CodeSha256: the bundle is byte-reproducible (picops.provision.bundle), so unchanged code
has the SHA-256 the function already reports and no UpdateFunctionCode call is made. Configuration fields are
compared one by one and only differing ones are sent. Every mutation is followed by botocore's Lambda waiter
(function_active_v2 / function_updated_v2 / published_version_active): Lambda refuses a second update while
one is in progress, and an alias must not point at a version that is not yet active.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import botocore.exceptions

from picops.aws import ClientFactory, translate_error
from picops.aws_errors import OBJECT_MISSING, is_missing
from picops.config import Settings
from picops.errors import (
    CredentialsMissing,
    EndpointUnreachable,
    OperationFailed,
    PicopsError,
    ResourceMissing,
    UsageError,
)
from picops.provision.bundle import Bundle, BundleTooLarge
from picops.provision.propagation import wait_for_propagation
from picops.stack.model import FunctionSpec, StackModel

T = TypeVar("T")
# Moves `spec.alias` onto a just-published version: (lambda client, spec, new version, version the alias is on
# now or None when there is no alias yet). The default moves it for all traffic at once.
Pointer = Callable[[Any, FunctionSpec, str, "str | None"], None]

ACTIONS = ("created", "updated", "unchanged")


@dataclass(frozen=True)
class FunctionResult:
    """What deploy did (or, in a dry run, would do) to one function."""

    logical: str
    name: str
    action: str  # created | updated | unchanged | rolled_back | failed
    version: str | None  # the version `live` points at afterwards (dry run: now)
    code_sha256: str
    size_bytes: int
    changes: tuple[str, ...] = ()  # code, architecture, configuration fields, alias
    previous_version: str | None = None
    error: str | None = None
    # A release (`deploy --strategy`/`--alarm`): how it shifted, how it ended, the alarm that stopped it.
    strategy: str | None = None
    outcome: str | None = None
    alarm: str | None = None

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "logical": self.logical,
            "name": self.name,
            "action": self.action,
            "version": self.version,
            "code_sha256": self.code_sha256,
            "size_bytes": self.size_bytes,
            "changes": list(self.changes),
            "previous_version": self.previous_version,
        }
        if self.error is not None:
            doc["error"] = self.error
        if self.strategy is not None:
            doc.update(strategy=self.strategy, outcome=self.outcome, alarm=self.alarm)
        return doc


@dataclass
class _Live:
    """A function's current state as deploy needs it."""

    config: dict[str, Any]
    alias_version: str | None
    alias_config: dict[str, Any] | None = field(default=None)


# ---------------------------------------------------------------------------------------------------------
# deploy


def ensure_function(
    factory: ClientFactory,
    settings: Settings,
    spec: FunctionSpec,
    bundle: Bundle,
    role_arn: str,
    *,
    create_missing: bool = True,
    dry_run: bool = False,
    described: _Live | None = None,
    point: Pointer | None = None,
) -> FunctionResult:
    """Make `spec.name` run `bundle` with `spec`'s configuration, published and aliased as `spec.alias`.

    Creates the function if missing (unless `create_missing` is false: then ResourceMissing, exit 3), else
    updates code only when CodeSha256 differs and configuration only where fields differ. A dry run makes
    describe calls only and reports what would change. `described` is the function's state when the caller
    has just read it (so it is not read twice). `point` moves the alias onto the published version (default:
    all traffic at once).
    """
    lam = factory.client("lambda")
    live = described if described is not None else _describe(lam, spec)
    if live is None:
        if not create_missing:
            raise ResourceMissing(
                f"Lambda function {spec.name} ({spec.logical}) does not exist",
                hint="create the stack's functions first with `picops provision`",
            )
        if dry_run:
            s3_route(settings, bundle)
            return _result(spec, bundle, "created", None, ("code", "configuration", "alias"))
        return _create(lam, spec, bundle, role_arn, code_argument(factory, settings, bundle))

    changes: list[str] = []
    code_differs = live.config.get("CodeSha256") != bundle.code_sha256
    arch_differs = list(live.config.get("Architectures") or ["x86_64"]) != [spec.architecture]
    if code_differs:
        changes.append("code")
    if arch_differs:
        changes.append("architecture")
    config_update = configuration_diff(live.config, spec, role_arn)
    changes.extend(sorted(config_update))
    alias_current = (
        live.alias_config is not None
        and live.alias_config.get("CodeSha256") == bundle.code_sha256
        and not configuration_diff(live.alias_config, spec, role_arn)
        and list(live.alias_config.get("Architectures") or ["x86_64"]) == [spec.architecture]
    )
    if not changes and alias_current:
        return _result(spec, bundle, "unchanged", live.alias_version, ())
    changes.append("alias")
    if dry_run:
        if code_differs or arch_differs:
            s3_route(settings, bundle)
        return _result(spec, bundle, "updated", live.alias_version, tuple(changes), live.alias_version)

    # Lambda refuses changes while a function is still being created or updated (ResourceConflictException).
    if live.config.get("State") == "Pending":
        _wait(lam, "function_active_v2", spec.name)
    if live.config.get("LastUpdateStatus") == "InProgress":
        _wait(lam, "function_updated_v2", spec.name)
    if code_differs or arch_differs:
        code = code_argument(factory, settings, bundle)
        lam.update_function_code(FunctionName=spec.name, Architectures=[spec.architecture], **code)
        _wait(lam, "function_updated_v2", spec.name)
    if config_update:
        lam.update_function_configuration(FunctionName=spec.name, **config_update)
        _wait(lam, "function_updated_v2", spec.name)
    version = _publish(lam, spec.name, bundle)
    (point or point_at_once)(lam, spec, version, live.alias_version)
    return _result(spec, bundle, "updated", version, tuple(changes), live.alias_version)


def deploy_functions(
    factory: ClientFactory,
    settings: Settings,
    specs: Sequence[FunctionSpec],
    bundle: Bundle,
    *,
    dry_run: bool = False,
    on_result: Callable[[FunctionResult], None] | None = None,
    point: Pointer | None = None,
) -> list[FunctionResult]:
    """`picops deploy`: every function must exist (exit 3 naming all missing ones, before any change); a
    failure on one function is recorded (action `failed`) and the others still deploy."""
    lam = factory.client("lambda")
    described = {spec.logical: _describe(lam, spec) for spec in specs}
    missing = [spec for spec in specs if described[spec.logical] is None]
    if missing:
        listed = ", ".join(f"{s.logical} ({s.name})" for s in missing)
        raise ResourceMissing(
            f"Lambda function{'s' if len(missing) > 1 else ''} not found: {listed}",
            hint="create the stack first with `picops provision`; deploy only updates existing functions",
        )
    # Checked once up front so an oversized bundle with no artifacts bucket fails before any change.
    s3_route(settings, bundle)
    results: list[FunctionResult] = []
    for spec in specs:
        try:
            result = ensure_function(
                factory,
                settings,
                spec,
                bundle,
                spec.role_arn,
                create_missing=False,
                dry_run=dry_run,
                described=described[spec.logical],
                point=point,
            )
        except (PicopsError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            error = translate_error(exc, factory.endpoint_url)
            if isinstance(error, EndpointUnreachable | CredentialsMissing | UsageError):
                raise error from None  # the same for every function: stop rather than fail each one
            result = _result(spec, bundle, "failed", None, (), error=str(error or exc))
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def select_functions(model: StackModel, wanted: Sequence[str]) -> list[FunctionSpec]:
    """FUNCTION arguments (logical or physical names) -> specs, in model order; none means all."""
    specs = model.functions()
    if not wanted:
        return specs
    by_name = {s.logical: s for s in specs} | {s.name: s for s in specs}
    unknown = [w for w in wanted if w not in by_name]
    if unknown:
        known = ", ".join(s.logical for s in specs)
        raise UsageError(
            f"unknown function{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
            hint=f"give logical names ({known}) or their physical names",
        )
    chosen = {by_name[w].logical for w in wanted}
    return [s for s in specs if s.logical in chosen]


def configuration_diff(config: dict[str, Any], spec: FunctionSpec, role_arn: str) -> dict[str, Any]:
    """UpdateFunctionConfiguration arguments for the fields that differ from `spec` (empty: none)."""
    desired: dict[str, Any] = {
        "Handler": spec.handler,
        "Runtime": spec.runtime,
        "Role": role_arn,
        "Timeout": spec.timeout_s,
        "MemorySize": spec.memory_mb,
    }
    update = {key: value for key, value in desired.items() if config.get(key) != value}
    if (config.get("TracingConfig") or {}).get("Mode", "PassThrough") != spec.tracing_mode:
        update["TracingConfig"] = {"Mode": spec.tracing_mode}
    current_env = (config.get("Environment") or {}).get("Variables") or {}
    if dict(current_env) != spec.env:
        update["Environment"] = {"Variables": spec.env}
    return update


def _describe(lam: Any, spec: FunctionSpec) -> _Live | None:
    config = _get_function(lam, spec.name)
    if config is None:
        return None
    alias_version = _alias_version(lam, spec.name, spec.alias)
    alias_config = None
    if alias_version is not None:
        alias_config = lam.get_function_configuration(FunctionName=spec.name, Qualifier=alias_version)
    return _Live(config=config, alias_version=alias_version, alias_config=alias_config)


def _get_function(lam: Any, name: str, qualifier: str | None = None) -> dict[str, Any] | None:
    try:
        args = {"FunctionName": name} | ({"Qualifier": qualifier} if qualifier else {})
        return dict(lam.get_function(**args)["Configuration"])
    except lam.exceptions.ResourceNotFoundException:
        return None


def _alias_version(lam: Any, name: str, alias: str) -> str | None:
    try:
        return str(lam.get_alias(FunctionName=name, Name=alias)["FunctionVersion"])
    except lam.exceptions.ResourceNotFoundException:
        return None


def _create(
    lam: Any, spec: FunctionSpec, bundle: Bundle, role_arn: str, code: dict[str, Any]
) -> FunctionResult:
    args: dict[str, Any] = {
        "FunctionName": spec.name,
        "Runtime": spec.runtime,
        "Role": role_arn,
        "Handler": spec.handler,
        "Code": code,
        "Timeout": spec.timeout_s,
        "MemorySize": spec.memory_mb,
        "Architectures": [spec.architecture],
        "Environment": {"Variables": spec.env},
        "TracingConfig": {"Mode": spec.tracing_mode},
        "Publish": False,
    }
    # A freshly created role takes seconds to become assumable by Lambda.
    wait_for_propagation(lambda: lam.create_function(**args))
    _wait(lam, "function_active_v2", spec.name)
    version = _publish(lam, spec.name, bundle)
    _point_alias(lam, spec, version, exists=False)
    return _result(spec, bundle, "created", version, ("code", "configuration", "alias"))


def _publish(lam: Any, name: str, bundle: Bundle) -> str:
    # CodeSha256 makes Lambda refuse to publish if someone changed $LATEST's code in between. When $LATEST has
    # not changed since the last publish, Lambda returns that version instead of making a new one.
    version = str(lam.publish_version(FunctionName=name, CodeSha256=bundle.code_sha256)["Version"])
    _wait(lam, "published_version_active", name, qualifier=version)
    return version


def point_at_once(lam: Any, spec: FunctionSpec, version: str, current: str | None) -> None:
    """All of the alias's traffic onto `version` (creating the alias when there is none yet)."""
    _point_alias(lam, spec, version, exists=current is not None)


def _point_alias(lam: Any, spec: FunctionSpec, version: str, *, exists: bool) -> None:
    if exists:
        # RoutingConfig cleared too: a weighted alias left by an interrupted release would otherwise keep
        # sending a share of the traffic to the version it weighted.
        lam.update_alias(
            FunctionName=spec.name,
            Name=spec.alias,
            FunctionVersion=version,
            RoutingConfig={"AdditionalVersionWeights": {}},
        )
    else:
        lam.create_alias(
            FunctionName=spec.name,
            Name=spec.alias,
            FunctionVersion=version,
            Description="picops: the version event sources and the API invoke",
        )


def _wait(lam: Any, waiter: str, name: str, *, qualifier: str | None = None) -> None:
    args = {"FunctionName": name} | ({"Qualifier": qualifier} if qualifier else {})
    try:
        lam.get_waiter(waiter).wait(**args, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    except botocore.exceptions.WaiterError as exc:
        last: dict[str, Any] = dict(exc.last_response or {})
        config: dict[str, Any] = last.get("Configuration", last)
        reason = config.get("LastUpdateStatusReason") or config.get("StateReason") or str(exc)
        raise OperationFailed(f"Lambda function {name} did not become ready: {reason}") from None


def _result(
    spec: FunctionSpec,
    bundle: Bundle,
    action: str,
    version: str | None,
    changes: tuple[str, ...],
    previous: str | None = None,
    *,
    error: str | None = None,
) -> FunctionResult:
    return FunctionResult(
        logical=spec.logical,
        name=spec.name,
        action=action,
        version=version,
        code_sha256=bundle.code_sha256,
        size_bytes=bundle.size_bytes,
        changes=changes,
        previous_version=previous,
        error=error,
    )


# ---------------------------------------------------------------------------------------------------------
# where the code goes


def s3_route(settings: Settings, bundle: Bundle) -> tuple[str, str] | None:
    """(bucket, key) when the bundle is over the direct-upload limit and must go through S3, else None.
    Over the limit with no `[deploy] artifacts_bucket`: BundleTooLarge (exit 2). The key is the bundle's
    SHA-256, so an object already there is this very bundle and is not uploaded again."""
    if not bundle.needs_s3_upload:
        return None
    bucket = settings.deploy.artifacts_bucket
    if not bucket:
        raise BundleTooLarge(
            f"the Lambda bundle is {bundle.size_bytes / 1048576:.1f} MB zipped, over the "
            f"{bundle.limits.direct_upload_bytes / 1048576:.0f} MB limit for uploading code directly",
            hint="set [deploy] artifacts_bucket to an S3 bucket in the functions' region; picops uploads the "
            "bundle there and points Lambda at it",
        )
    return bucket, f"picops/{settings.stack.name}/lambda/{bundle.sha256_hex}.zip"


def code_argument(factory: ClientFactory, settings: Settings, bundle: Bundle) -> dict[str, Any]:
    """The `Code` of CreateFunction (same keys as UpdateFunctionCode's): the zip itself, or an S3 object."""
    route = s3_route(settings, bundle)
    if route is None:
        return {"ZipFile": bundle.read_bytes()}
    bucket, key = route
    s3 = factory.client("s3")
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError as exc:
        if not is_missing(exc, OBJECT_MISSING):
            raise
        s3.upload_file(str(bundle.path), bucket, key)
    return {"S3Bucket": bucket, "S3Key": key}


# ---------------------------------------------------------------------------------------------------------
# rollback


def rollback_function(
    factory: ClientFactory, spec: FunctionSpec, *, dry_run: bool = False, to: str | None = None
) -> FunctionResult:
    """Move `spec.alias` back to the published version before the one it points at (or to version `to`).

    No such function or alias: ResourceMissing (exit 3). No earlier published version: OperationFailed
    (exit 1): the command ran, there is nothing to roll back to.
    """
    lam = factory.client("lambda")
    if _get_function(lam, spec.name) is None:
        raise ResourceMissing(
            f"Lambda function {spec.name} ({spec.logical}) does not exist",
            hint="create it with `picops provision`",
        )
    current = _alias_version(lam, spec.name, spec.alias)
    if current is None or not current.isdigit():
        raise ResourceMissing(
            f"{spec.name} has no alias {spec.alias!r} pointing at a published version",
            hint="`picops deploy` publishes a version and creates it",
        )
    target = to if to is not None else _version_before(lam, spec, current)
    config = lam.get_function_configuration(FunctionName=spec.name, Qualifier=target)
    if not dry_run:
        # RoutingConfig cleared too: a weighted alias would otherwise keep sending traffic to `current`.
        lam.update_alias(
            FunctionName=spec.name,
            Name=spec.alias,
            FunctionVersion=target,
            RoutingConfig={"AdditionalVersionWeights": {}},
        )
    return FunctionResult(
        logical=spec.logical,
        name=spec.name,
        action="rolled_back",
        version=target,
        code_sha256=str(config.get("CodeSha256", "")),
        size_bytes=int(config.get("CodeSize", 0)),
        changes=("alias",),
        previous_version=current,
    )


def _version_before(lam: Any, spec: FunctionSpec, current: str) -> str:
    versions = sorted(
        int(v["Version"])
        for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=spec.name)
        for v in page["Versions"]
        if str(v["Version"]).isdigit()
    )
    earlier = [v for v in versions if v < int(current)]
    if not earlier:
        raise OperationFailed(
            f"{spec.name}: alias {spec.alias!r} is at version {current}, and there is no earlier published "
            "version to roll back to"
        )
    return str(earlier[-1])
