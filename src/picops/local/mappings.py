"""The event source mappings `picops provision` recorded on a local endpoint, validated.

Provision writes one SSM parameter per mapping (`picops.provision.live.read_local_mappings` reads them);
this module turns each raw record into a typed `MappingRecord` and the stack model's FunctionSpec into the
`FunctionTarget` the runtime invokes (its environment comes from the model, as provision would set it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from picops.errors import ConfigError
from picops.local.invoke import FunctionTarget
from picops.stack.model import FunctionSpec, StackModel
from picops.stack.names import build_arn

SQS = "sqs"
DYNAMODB_STREAM = "dynamodb-stream"


@dataclass(frozen=True)
class MappingRecord:
    logical: str
    function: str  # logical name of the function
    function_name: str  # physical name
    handler: str  # entry point
    source: str  # logical name of the source (IngestQueue, ModerationTable)
    source_arn: str
    batch_size: int
    report_failures: bool
    starting_position: str | None = None
    bisect_on_error: bool = False
    # None: retry until the record expires (AWS's -1).
    max_retries: int | None = None
    on_failure_arn: str | None = None
    # ScalingConfig.MaximumConcurrency; None (not set) invokes one batch at a time locally.
    max_concurrency: int | None = None
    parallelization_factor: int = 1

    @property
    def kind(self) -> str:
        if ":sqs:" in self.source_arn:
            return SQS
        if ":dynamodb:" in self.source_arn and "/stream/" in self.source_arn:
            return DYNAMODB_STREAM
        return "unknown"

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> MappingRecord:
        """Validate one recorded mapping; ConfigError names what is wrong (re-run provision to fix it)."""
        logical = raw.get("logical")
        where = f"recorded event source mapping {logical!r}"
        mapping = raw.get("mapping")
        if not isinstance(logical, str) or not logical or not isinstance(mapping, Mapping):
            raise ConfigError(f"{where} is malformed", hint="re-run `picops provision` to record it again")
        text = {k: raw.get(k) for k in ("function", "function_name", "handler", "source")}
        for key, value in text.items():
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{where} has no {key}", hint="re-run `picops provision`")
        arn = mapping.get("EventSourceArn")
        if not isinstance(arn, str) or not arn.startswith("arn:"):
            raise ConfigError(
                f"{where} has no usable EventSourceArn ({arn!r})",
                hint="re-run `picops provision` once the source exists",
            )
        batch = mapping.get("BatchSize", 10)
        if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
            raise ConfigError(f"{where} has an invalid BatchSize {batch!r}")
        types = mapping.get("FunctionResponseTypes") or []
        retries = mapping.get("MaximumRetryAttempts")
        if retries is not None and (
            not isinstance(retries, int) or isinstance(retries, bool) or retries < -1
        ):
            raise ConfigError(f"{where} has an invalid MaximumRetryAttempts {retries!r}")
        position = mapping.get("StartingPosition")
        if position is not None and position not in ("LATEST", "TRIM_HORIZON"):
            raise ConfigError(f"{where} has an unsupported StartingPosition {position!r}")
        destination = mapping.get("OnFailureDestination")
        scaling = mapping.get("ScalingConfig") or {}
        most = scaling.get("MaximumConcurrency") if isinstance(scaling, Mapping) else None
        if most is not None and (not isinstance(most, int) or isinstance(most, bool) or most < 1):
            raise ConfigError(f"{where} has an invalid MaximumConcurrency {most!r}")
        factor = mapping.get("ParallelizationFactor", 1)
        if not isinstance(factor, int) or isinstance(factor, bool) or not 1 <= factor <= 10:
            raise ConfigError(f"{where} has an invalid ParallelizationFactor {factor!r}")
        return cls(
            logical=logical,
            function=str(text["function"]),
            function_name=str(text["function_name"]),
            handler=str(text["handler"]),
            source=str(text["source"]),
            source_arn=arn,
            batch_size=batch,
            report_failures="ReportBatchItemFailures" in types,
            starting_position=position,
            bisect_on_error=bool(mapping.get("BisectBatchOnFunctionError", False)),
            max_retries=None if retries is None or retries == -1 else retries,
            on_failure_arn=destination if isinstance(destination, str) and destination else None,
            max_concurrency=most,
            parallelization_factor=factor,
        )


def function_target(model: StackModel, record: MappingRecord) -> FunctionTarget:
    """The FunctionSpec behind a mapping, with the handler the mapping recorded."""
    spec = model.get(record.function) if record.function in model else None
    if not isinstance(spec, FunctionSpec):
        raise ConfigError(
            f"event source mapping {record.logical} names function {record.function}, "
            "which the stack model does not have",
            hint="re-run `picops provision` with the current configuration",
        )
    return target_of(model, spec, handler=record.handler)


def target_of(model: StackModel, spec: FunctionSpec, *, handler: str | None = None) -> FunctionTarget:
    arn = build_arn(model.region, "lambda", model.account, f"function:{spec.name}:{spec.alias}")
    return FunctionTarget(
        logical=spec.logical,
        name=spec.name,
        handler=handler or spec.handler,
        env=spec.env,
        timeout_s=spec.timeout_s,
        memory_mb=spec.memory_mb,
        arn=arn,
        reserved_concurrency=spec.reserved_concurrency,
    )
