"""AWS::Lambda::EventSourceMapping: a queue or table stream feeding a function's `live` alias. Mappings
have no names, so one is found by alias and source ARN. On a local endpoint the mapping is recorded in an
SSM parameter for `picops local run` instead (docs/local.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picops.provision.kinds import referenced_table
from picops.provision.kinds._common import GONE, describe_or_none, ignore_missing, paginated
from picops.provision.kinds.function import live_alias
from picops.provision.propagation import wait_for_propagation
from picops.stack.local_mappings import decode_record, encode_record, local_mapping_parameter
from picops.stack.model import EventSourceMapping, FunctionSpec, ReferencedTable, StackModel

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = EventSourceMapping

# The states in which a mapping delivers, or soon will.
ENABLED_STATES = ("Enabled", "Enabling", "Creating", "Updating")


def source_arn(r: EventSourceMapping, ctx: Context) -> str | None:
    """Queues have name-derived ARNs; a table's stream ARN is known only once the table exists."""
    if r.source_arn:
        return r.source_arn
    arn = ctx.fact(r.source, "StreamArn")
    return str(arn) if arn else None


def read(r: EventSourceMapping, ctx: Context) -> dict[str, Any] | None:
    if r.local:
        return _read_local(r, ctx)
    arn = source_arn(r, ctx)
    if not arn:
        return None
    lam = ctx.client("lambda")
    found = describe_or_none(
        lambda: paginated(
            lam,
            "list_event_source_mappings",
            "EventSourceMappings",
            FunctionName=r.qualified_function,
            EventSourceArn=arn,
        )
    )
    if not found:
        return None
    mapping = found[0]
    ctx.remember(r.logical, UUID=mapping["UUID"])
    return _fields(r, mapping)


def _fields(r: EventSourceMapping, mapping: dict[str, Any]) -> dict[str, Any]:
    live: dict[str, Any] = {
        "EventSourceArn": mapping["EventSourceArn"],
        "FunctionName": r.qualified_function,
        "BatchSize": mapping.get("BatchSize"),
        "FunctionResponseTypes": sorted(mapping.get("FunctionResponseTypes", [])),
        "Enabled": mapping.get("State") in ENABLED_STATES,
        "ScalingConfig": mapping.get("ScalingConfig") or None,
    }
    if r.batching_window_s is not None:
        live["MaximumBatchingWindowInSeconds"] = mapping.get("MaximumBatchingWindowInSeconds", 0)
    if r.starting_position:
        live["ParallelizationFactor"] = mapping.get("ParallelizationFactor")
        live["StartingPosition"] = mapping.get("StartingPosition")
        live["BisectBatchOnFunctionError"] = mapping.get("BisectBatchOnFunctionError", False)
        live["MaximumRetryAttempts"] = mapping.get("MaximumRetryAttempts")
        live["OnFailureDestination"] = (
            mapping.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        )
    return live


def _read_local(r: EventSourceMapping, ctx: Context) -> dict[str, Any] | None:
    ssm = ctx.client("ssm")
    found = describe_or_none(
        lambda: ssm.get_parameter(Name=local_mapping_parameter(ctx.model.stack, r.logical))
    )
    if found is None:
        return None
    fields: dict[str, Any] = decode_record(found["Parameter"]["Value"]).get("mapping", {})
    return fields


def desired(r: EventSourceMapping, ctx: Context) -> dict[str, Any]:
    fields = r.desired()
    if not r.source_arn:
        fields["EventSourceArn"] = source_arn(r, ctx) or f"<{r.source} stream>"
    return fields


def _record_local(r: EventSourceMapping, fields: dict[str, Any], ctx: Context) -> None:
    function = ctx.model.get(r.function)
    record = encode_record(
        logical=r.logical,
        function=r.function,
        function_name=r.function_name,
        handler=function.handler if isinstance(function, FunctionSpec) else "",
        source=r.source,
        mapping=fields,
    )
    ctx.client("ssm").put_parameter(
        Name=local_mapping_parameter(ctx.model.stack, r.logical),
        Value=record,
        Type="String",
        Overwrite=True,
        Description=f"picops local runtime: {r.name}",
    )


def _settings(r: EventSourceMapping, fields: dict[str, Any]) -> dict[str, Any]:
    """What CreateEventSourceMapping and UpdateEventSourceMapping both take."""
    kwargs: dict[str, Any] = {
        "FunctionName": r.qualified_function,
        "BatchSize": r.batch_size,
        "FunctionResponseTypes": fields["FunctionResponseTypes"],
        "Enabled": True,
    }
    if r.batching_window_s is not None:
        kwargs["MaximumBatchingWindowInSeconds"] = r.batching_window_s
    if "ScalingConfig" in fields:
        kwargs["ScalingConfig"] = fields["ScalingConfig"]
    if r.starting_position:
        kwargs["ParallelizationFactor"] = r.parallelization_factor
        kwargs.update(BisectBatchOnFunctionError=r.bisect_on_error, MaximumRetryAttempts=r.max_retries)
        if r.on_failure_arn:
            kwargs["DestinationConfig"] = {"OnFailure": {"Destination": r.on_failure_arn}}
    return kwargs


def apply(r: EventSourceMapping, change: Change, ctx: Context) -> None:
    fields = desired(r, ctx)
    if r.local:
        _record_local(r, fields, ctx)
        return
    lam = ctx.client("lambda")
    kwargs = _settings(r, fields)
    if change.action == "create":
        extra = {"StartingPosition": r.starting_position} if r.starting_position else {}
        created = wait_for_propagation(
            lambda: lam.create_event_source_mapping(
                EventSourceArn=fields["EventSourceArn"], **kwargs, **extra
            )
        )
        ctx.remember(r.logical, UUID=created["UUID"])
        return
    lam.update_event_source_mapping(UUID=ctx.fact(r.logical, "UUID"), **kwargs)


def delete(r: EventSourceMapping, ctx: Context) -> None:
    if r.local:
        ssm = ctx.client("ssm")
        name = local_mapping_parameter(ctx.model.stack, r.logical)
        ignore_missing(lambda: ssm.delete_parameter(Name=name), *GONE)
        return
    uuid = ctx.fact(r.logical, "UUID")
    if uuid:
        lam = ctx.client("lambda")
        ignore_missing(lambda: lam.delete_event_source_mapping(UUID=uuid), *GONE)


def render(r: EventSourceMapping, model: StackModel) -> dict[str, Any]:
    props: dict[str, Any] = {
        "FunctionName": f"{r.function_name}:{r.alias}",
        "EventSourceArn": _template_source(r, model),
        "BatchSize": r.batch_size,
        "Enabled": True,
    }
    if r.report_batch_item_failures:
        props["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
    if r.batching_window_s is not None:
        props["MaximumBatchingWindowInSeconds"] = r.batching_window_s
    if r.max_concurrency is not None:
        props["ScalingConfig"] = {"MaximumConcurrency": r.max_concurrency}
    if r.starting_position:
        props["ParallelizationFactor"] = r.parallelization_factor
        props.update(
            StartingPosition=r.starting_position,
            BisectBatchOnFunctionError=r.bisect_on_error,
            MaximumRetryAttempts=r.max_retries,
        )
        if r.on_failure_arn:
            props["DestinationConfig"] = {"OnFailure": {"Destination": r.on_failure_arn}}
    return props


def _template_source(r: EventSourceMapping, model: StackModel) -> Any:
    if r.source_arn:
        return r.source_arn
    table = model.get(r.source)
    if isinstance(table, ReferencedTable):
        return {"Ref": referenced_table.stream_parameter(table)}
    return {"Fn::GetAtt": [r.source, "StreamArn"]}


def template_depends(r: EventSourceMapping) -> dict[str, set[str]]:
    """It invokes the function's alias, so waits for it."""
    return {r.logical: {live_alias(r.function)}}
