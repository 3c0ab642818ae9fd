"""`picops deploy status`, `deploy history` and `deploy rollback`: where each function's alias `live` is,
how it got there, and moving it back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import botocore.exceptions

from picops.aws import ClientFactory
from picops.errors import UsageError, input_field
from picops.provision.deploy import FunctionResult, rollback_function
from picops.provision.release import history
from picops.provision.release.alarms import default_alarms, states
from picops.provision.release.codedeploy import resolve
from picops.provision.release.run import function_arn
from picops.provision.release.shift import IN_PROGRESS, SUCCEEDED
from picops.stack.model import FunctionSpec, StackModel

ROLLBACK = "rollback"


def history_of(
    factory: ClientFactory, model: StackModel, specs: Sequence[FunctionSpec]
) -> list[history.Record]:
    """Every record of `specs`, newest first; a release still in progress as CodeDeploy now has it."""
    records = [r for spec in specs for r in _records(factory, model, spec)]
    return sorted(records, key=lambda r: (r.at, r.function), reverse=True)


def _records(factory: ClientFactory, model: StackModel, spec: FunctionSpec) -> list[history.Record]:
    """`spec`'s records, oldest first. The tags are written when a release starts and when picops sees it
    end; a `--no-wait` release on AWS ends without picops, so its CodeDeploy deployment says how."""
    records = history.read(factory.client("lambda"), spec.logical, function_arn(model, spec))
    if not any(r.outcome == IN_PROGRESS and r.deployment for r in records):
        return records
    codedeploy = factory.client("codedeploy")
    alarms = default_alarms(model, spec)
    return [resolve(codedeploy, r, alarms) for r in records]


def status_of(
    factory: ClientFactory, model: StackModel, specs: Sequence[FunctionSpec]
) -> list[dict[str, Any]]:
    """Per function: the version `live` serves, the share of traffic a release sends elsewhere, its last
    history record and its default alarms' states."""
    lam = factory.client("lambda")
    watched = {spec.logical: default_alarms(model, spec) for spec in specs}
    known = states(factory.client("cloudwatch"), [n for names in watched.values() for n in names])
    rows: list[dict[str, Any]] = []
    for spec in specs:
        alias = _alias(lam, spec)
        records = _records(factory, model, spec) if alias is not None else []
        weights = ((alias or {}).get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        rows.append(
            {
                "logical": spec.logical,
                "name": spec.name,
                "version": None if alias is None else str(alias["FunctionVersion"]),
                "weights": {str(v): float(w) for v, w in weights.items()},
                "shifting": bool(weights) or (bool(records) and records[-1].outcome == IN_PROGRESS),
                "last": records[-1].as_dict() if records else None,
                "alarms": [{"name": n, "state": known[n]} for n in watched[spec.logical] if n in known],
            }
        )
    return rows


def _alias(lam: Any, spec: FunctionSpec) -> dict[str, Any] | None:
    try:
        return dict(lam.get_alias(FunctionName=spec.name, Name=spec.alias))
    except lam.exceptions.ResourceNotFoundException:
        return None


def rollback(
    factory: ClientFactory,
    model: StackModel,
    specs: Sequence[FunctionSpec],
    *,
    to: str | None = None,
    dry_run: bool = False,
    by_history: bool = True,
    on_warning: Callable[[str], None] | None = None,
) -> list[FunctionResult]:
    """Move each function's alias `live` back: to `to`, else to the version it was on before the release
    that put it where it is (the history's record, unless not `by_history`), else one published version
    back. Recorded in the history (strategy `rollback`) unless a dry run."""
    if to is not None and (len(specs) != 1 or not to.isdigit()):
        raise UsageError(
            f"{input_field('to')} takes one published version number and exactly one FUNCTION",
            hint="for example `picops deploy rollback IngestFunction --to 3`",
        )
    lam = factory.client("lambda")
    results: list[FunctionResult] = []
    for spec in specs:
        target = to if to is not None or not by_history else _before_current(lam, model, spec)
        if to is not None:
            _require_version(lam, spec, to)
        result = rollback_function(factory, spec, dry_run=dry_run, to=target)
        results.append(result)
        if not dry_run:
            _record(factory, model, spec, result, on_warning)
    return results


def _before_current(lam: Any, model: StackModel, spec: FunctionSpec) -> str | None:
    """The version `live` was on before the release that moved it to where it is now, per the history."""
    current = (_alias(lam, spec) or {}).get("FunctionVersion")
    for record in reversed(history.read(lam, spec.logical, function_arn(model, spec))):
        if record.outcome == SUCCEEDED and record.version == current and record.previous:
            return record.previous
    return None


def _require_version(lam: Any, spec: FunctionSpec, version: str) -> None:
    try:
        lam.get_function_configuration(FunctionName=spec.name, Qualifier=version)
    except lam.exceptions.ResourceNotFoundException:
        raise UsageError(
            f"{input_field('to')}: {spec.name} has no published version {version}",
            hint=f"`picops deploy history {spec.logical}` lists the versions it ran",
        ) from None


def _record(
    factory: ClientFactory,
    model: StackModel,
    spec: FunctionSpec,
    result: FunctionResult,
    on_warning: Callable[[str], None] | None,
) -> None:
    try:
        record = history.Record(
            spec.logical,
            str(result.version),
            result.previous_version,
            history.now(),
            history.caller(factory),
            ROLLBACK,
            SUCCEEDED,
        )
        history.write(factory.client("lambda"), function_arn(model, spec), record)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        if on_warning is not None:
            on_warning(f"{spec.logical}: the release history was not recorded ({exc})")
