"""Moderation Lambdas: tag S3 objects with their vendor verdict (contract entry points, picops.functions).

- `stream_handler`: ModerationTable's DynamoDB stream. INSERT/MODIFY with a verdict in NewImage tags that
  object now; REMOVE keeps the tag (or removes it with `[moderation] on_remove = "remove"`). Transient errors
  are reported in `batchItemFailures` (itemIdentifier = SequenceNumber) so only those are retried;
  malformed records are logged and skipped. A tag it changes loses its tag-ledger entry (the record carries no
  ETag), so the next sweep checks that object.
- `sweep_handler`: the hourly EventBridge schedule. Runs the engine over UploadsBucket until the remaining
  time drops below `[moderation] sweep_margin_s`, saving a continuation point (see `core.tagging.sweep`),
  skipping what the tag ledger in JobsTable vouches for outside the cycle's verify slice.
- `batch_handler`: S3 Batch Operations LambdaInvoke, schema 1.0 and 2.0, one result per task; records each
  object it finds or makes right in the tag ledger.

Thin by design: parse the event, call the engine, shape the response. Clients and settings are built on the
first invocation, once per container.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

import botocore.exceptions
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from picops.core.tagging import (
    Candidate,
    EngineOptions,
    Ledger,
    ObjectResult,
    Outcome,
    TaggingEngine,
    VerdictLookup,
    run_sweep,
    with_identity,
)
from picops.handlers import _env, _tracing
from picops.stack.metrics import NAMESPACE, service_name

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
    from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
        S3BatchOperationResponse,
        S3BatchOperationResponseRecord,
        S3BatchOperationTask,
    )

    from picops.stack.names import StackNames

logger = Logger(service="picops-moderation")
# X-Ray: active only inside Lambda with `[observability] tracing` on (docs/operating.md, "Tracing");
# with it off the X-Ray SDK is not even imported (picops.handlers._tracing).
tracer = _tracing.tracer("picops-moderation")
ResultCode = Literal["Succeeded", "TemporaryFailure", "PermanentFailure"]
# EMF metrics (namespace PicOps, dimension service from POWERTOOLS_SERVICE_NAME), one document per invocation
# with the dimension kind = stream | sweep | batch; the stack's dashboard shows them (picops.stack.metrics).
metrics = Metrics(namespace=NAMESPACE)


# Report every transient failure in batchItemFailures, even when it is the whole batch (the contract), rather
# than raising: Lambda then retries exactly the failed records, bisecting nothing. Powertools' batch utility
# and its event classes load on the first batch, not at import (docs/architecture.md, "Cold start").
@functools.cache
def _stream_processor() -> BatchProcessor:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

    return BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


class TransientTaggingError(Exception):
    """Raised for a record worth retrying (throttling, 5xx): Powertools reports it in batchItemFailures."""


class MalformedRecord(ValueError):
    pass


def _names(context: Any) -> StackNames:
    return _env.names(_env.account(context))


def _ledger(names: StackNames, concurrency: int, writer: str) -> Ledger:
    # The tag ledger lives in JobsTable, whose name derives from the stack name (in the environment).
    return Ledger(
        _env.factory().client("dynamodb", concurrency=concurrency),
        names.jobs_table,
        writer=writer,
        on_error=lambda message: logger.warning(message),
    )


def _engine(
    concurrency: int,
    *,
    with_lookup: bool,
    table: str = "",
    overwrite: bool = True,
    ledger: Ledger | None = None,
) -> TaggingEngine:
    moderation = _env.settings().moderation
    factory = _env.factory()
    lookup = None
    if with_lookup:
        lookup = VerdictLookup(
            factory.client("dynamodb", concurrency=concurrency),
            table,
            key_attribute=moderation.key_attribute,
            status_attribute=moderation.status_attribute,
        )
    return TaggingEngine(
        factory.client("s3", concurrency=concurrency),
        lookup,
        EngineOptions(moderation.tag_key, moderation.statuses, overwrite, False, concurrency),
        ledger=ledger,
    )


def _log_result(result: ObjectResult, *, count: bool = True, **extra: Any) -> None:
    fields = {
        "bucket": result.bucket,
        "key": result.key,
        "version_id": result.version_id,
        "outcome": result.outcome.value,
        "old": result.old,
        "new": result.new,
        "error": result.error,
        **extra,
    }
    if count:
        _count(result.outcome)
    if result.outcome is Outcome.FAILED:
        logger.warning("object not tagged", extra=fields)
    else:
        logger.info("object processed", extra=fields)


# The object each line is about (docs/operating.md, "Correlation ids"): on every line a record or task writes,
# the ledger's warnings included, so `trace object` and the saved query find them all.
OBJECT_KEYS = ("key", "version_id", "verdict")


@contextlib.contextmanager
def _about(key: str, version_id: str | None, verdict: str | None) -> Iterator[None]:
    # Powertools leaves None-valued keys off the line.
    logger.append_keys(key=key, version_id=version_id, verdict=verdict)
    try:
        yield
    finally:
        logger.remove_keys(list(OBJECT_KEYS))


def _log_swept(result: ObjectResult) -> None:
    """A sweep's object whose tag it wrote or could not: the unchanged majority is left to the summary. Called
    from the engine's worker threads, so the ids go on the line itself, not on the shared logger."""
    if result.outcome in (Outcome.TAGGED, Outcome.FAILED, Outcome.MISSING):
        verdict = result.new if result.outcome is Outcome.TAGGED else None
        _log_result(result, verdict=verdict, count=False)


def _count(outcome: Outcome, n: int = 1) -> None:
    if n and outcome in (Outcome.TAGGED, Outcome.FAILED):
        name = "ModerationTagged" if outcome is Outcome.TAGGED else "ModerationFailed"
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=n)


def _publish(kind: str) -> None:
    """Flush what this invocation counted (nothing counted: nothing printed)."""
    if metrics.metric_set:
        # Named here, not at import: the local runtime applies a function's environment per call.
        metrics.add_dimension(name="service", value=service_name(_env.settings().stack.name))
        metrics.add_dimension(name="kind", value=kind)
        metrics.flush_metrics()


# -- DynamoDB stream -----------------------------------------------------------------------------------


def _string_attr(image: dict[str, Any], name: str, what: str) -> str:
    value = image.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedRecord(f"{what} attribute {name!r} missing or not a non-empty string")
    return value


def _stream_record(record: DynamoDBRecord, lambda_context: Any = None) -> None:
    # Powertools hands the Lambda context only to a parameter named `lambda_context`; the account comes from
    # its invoked_function_arn, so a cold start needs no STS call (which stalls in a VPC without STS).
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecordEventName

    moderation = _env.settings().moderation
    try:
        event_name = record.event_name
        stream = record.dynamodb
        if stream is None or event_name is None:
            raise MalformedRecord("record has no dynamodb section or eventName")
        if event_name is DynamoDBRecordEventName.REMOVE:
            image = stream.keys or stream.old_image
            key = _string_attr(image, moderation.key_attribute, "key")
            verdict = None
        else:
            image = stream.new_image
            key = _string_attr(image, moderation.key_attribute, "key")
            raw = image.get(moderation.status_attribute)
            # A verdict that is not a string is passed on visibly wrong, so the engine fails it with a reason.
            verdict = None if raw is None else raw if isinstance(raw, str) else f"<non-string {raw!r}>"
    except (MalformedRecord, KeyError, TypeError, ValueError, AttributeError) as exc:
        logger.error(
            "malformed stream record skipped",
            extra={"error": str(exc), "event_id": record.get("eventID"), "sequence": _sequence(record)},
        )
        return
    with _about(key, None, verdict):
        _stream_apply(record, event_name is DynamoDBRecordEventName.REMOVE, key, verdict, lambda_context)


def _stream_apply(record: DynamoDBRecord, removed: bool, key: str, verdict: str | None, context: Any) -> None:
    moderation = _env.settings().moderation
    bucket = _names(context).uploads_bucket
    candidate = Candidate(bucket, key)
    if removed:
        if moderation.on_remove == "keep":
            logger.info("verdict removed; tag kept", extra={"key": key})
            return
        result = _engine(1, with_lookup=False).untag_object(candidate)
    elif verdict is None:
        logger.info("no verdict in record yet", extra={"key": key})
        return
    else:
        result = _engine(1, with_lookup=False).tag_object(candidate, verdict)
    _log_result(result, sequence=_sequence(record))
    if result.outcome is Outcome.TAGGED and _stream_ledger:
        # The tag changed without an identity to record: drop the entry so the next sweep checks it.
        _stream_ledger[-1].forget(bucket, key)
    if result.transient:
        raise TransientTaggingError(f"{key}: {result.error}")


def _sequence(record: DynamoDBRecord) -> str | None:
    stream = record.get("dynamodb") or {}
    return stream.get("SequenceNumber") if isinstance(stream, dict) else None


# The ledger of the stream invocation in progress (one at a time per container).
_stream_ledger: list[Ledger] = []


@tracer.capture_lambda_handler(capture_response=False)
def stream_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import process_partial_response

    _stream_ledger.append(_ledger(_names(context), 1, "stream"))
    try:
        response = process_partial_response(
            event=event, record_handler=_stream_record, processor=_stream_processor(), context=context
        )
    finally:
        _stream_ledger.pop().close()
    _publish("stream")
    return dict(response)


# -- hourly sweep --------------------------------------------------------------------------------------


@tracer.capture_lambda_handler(capture_response=False)
def sweep_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # `picops tag-backfill --engine batch-operations` creates jobs invoking this function's `live` alias
    # (the stack has no separate function for it), so the same code serves both event kinds.
    if isinstance(event, dict) and "invocationSchemaVersion" in event and "tasks" in event:
        return batch_handler(event, context)
    names = _names(context)
    moderation = _env.settings().moderation
    concurrency = moderation.sweep_concurrency
    factory = _env.factory()
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    result = run_sweep(
        factory.client("s3", concurrency=concurrency),
        factory.client("dynamodb", concurrency=concurrency),
        bucket=names.uploads_bucket,
        prefix=moderation.sweep_prefix,
        table=names.moderation_table,
        options=EngineOptions(moderation.tag_key, moderation.statuses, True, False, concurrency),
        key_attribute=moderation.key_attribute,
        status_attribute=moderation.status_attribute,
        remaining_ms=(lambda: int(remaining())) if callable(remaining) else (lambda: 900_000),
        margin_s=moderation.sweep_margin_s,
        ledger_table=names.jobs_table,
        verify_fraction=moderation.verify_fraction,
        on_warning=lambda message: logger.warning(message),
        on_result=_log_swept,
    )
    summary = result.as_dict()
    if result.stopped_by_margin:
        logger.warning(
            "sweep stopped before any work: less than [moderation] sweep_margin_s was left; raise the "
            "function's timeout ([deploy.functions.ModerationSweepFunction] timeout_s) or lower the margin",
            extra={"schedule_event_id": event.get("id"), "margin_s": moderation.sweep_margin_s, **summary},
        )
        _starved_metric(_env.settings().stack.name)
    else:
        logger.info("sweep finished", extra={"schedule_event_id": event.get("id"), **summary})
    _count(Outcome.TAGGED, int(summary.get("tagged", 0)))
    _count(Outcome.FAILED, int(summary.get("failed", 0)))
    _publish("sweep")
    return summary


SWEEP_STARVED_METRIC = "ModerationSweepStoppedByMargin"


def _starved_metric(stack: str) -> None:
    """One datapoint of `ModerationSweepStoppedByMargin` (namespace PicOps, dimensions service and kind),
    published with the invocation's other metrics."""
    metrics.add_metric(name=SWEEP_STARVED_METRIC, unit=MetricUnit.Count, value=1)


# -- S3 Batch Operations -------------------------------------------------------------------------------


def _task_candidate(task: S3BatchOperationTask) -> Candidate:
    if not isinstance(task.get("s3Key"), str) or not task["s3Key"]:
        raise ValueError("task has no s3Key")
    # Powertools decodes the key (Batch Operations passes it URL-encoded, as in the manifest: `+` is a space)
    # and reads the bucket from s3BucketArn (schema 1.0) or s3Bucket (2.0).
    bucket = task.s3_bucket
    if not isinstance(bucket, str) or not bucket:
        raise ValueError("task has no bucket")
    version = task.s3_version_id
    return Candidate(bucket, task.s3_key, str(version) if version else None)


def batch_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
        S3BatchOperationEvent,
        S3BatchOperationJob,
        S3BatchOperationResponse,
        S3BatchOperationTask,
    )

    batch = S3BatchOperationEvent(event)
    schema = str(batch.get("invocationSchemaVersion", ""))
    if schema not in {"1.0", "2.0"}:
        raise ValueError(f"unsupported S3 Batch Operations invocationSchemaVersion {schema!r}")
    user_args = S3BatchOperationJob(batch.get("job") or {}).user_arguments
    overwrite = str(user_args.get("overwrite", "true")).lower() != "false"
    response = S3BatchOperationResponse(schema, str(batch.get("invocationId") or ""), "PermanentFailure")
    parsed: list[tuple[S3BatchOperationTask, Candidate]] = []
    for task in (S3BatchOperationTask(t) for t in batch.get("tasks") or []):
        try:
            parsed.append((task, _task_candidate(task)))
        except (KeyError, TypeError, ValueError) as exc:
            response.add_result(_task_result(task, "PermanentFailure", f"malformed task: {exc}"))
    names = _names(context)
    concurrency = _env.settings().moderation.sweep_concurrency
    ledger = _ledger(names, concurrency, "batch-operations")
    engine = _engine(
        concurrency,
        with_lookup=True,
        table=names.moderation_table,
        overwrite=overwrite,
        ledger=ledger,
    )
    verdicts: dict[str, str | None] = {}
    try:
        assert engine.verdicts is not None
        verdicts = engine.verdicts.lookup(c.key for _, c in parsed)
    except Exception as exc:  # the table is unreachable or throttled: every task may succeed on retry
        logger.warning("verdict lookup failed", extra={"error": str(exc)})
        for task, _ in parsed:
            response.add_result(_task_result(task, "TemporaryFailure", f"verdict lookup failed: {exc}"))
        parsed = []
    for task, candidate in parsed:
        verdict = verdicts.get(candidate.key)
        with _about(candidate.key, candidate.version_id, verdict):
            _batch_task(engine, response, task, candidate, verdict)
    ledger.close()
    _publish("batch")
    return _response_document(response)


def _batch_task(
    engine: TaggingEngine,
    response: S3BatchOperationResponse,
    task: S3BatchOperationTask,
    candidate: Candidate,
    verdict: str | None,
) -> None:
    if verdict is not None and verdict in engine.options.statuses:
        # The task names no ETag: ask S3 (before tagging) so the ledger can vouch for the object later.
        try:
            candidate = with_identity(engine.s3, candidate)
        except botocore.exceptions.ClientError as exc:  # AccessDenied: a grant is missing, say which
            reason = f"GetObjectAttributes refused ({exc}): needs s3:GetObject and s3:GetObjectAttributes"
            logger.error("identity lookup refused", extra={"key": candidate.key, "error": str(exc)})
            response.add_result(_task_result(task, "PermanentFailure", reason))
            return
    result = engine.tag_object(candidate, verdict)
    if verdict is not None:
        engine.remember(candidate, verdict, result)
    _log_result(result, task_id=task.get("taskId"))
    response.add_result(_task_result(task, *_result_code(result)))


def _response_document(response: S3BatchOperationResponse) -> dict[str, Any]:
    # S3 Batch Operations sends one task per invocation, and Powertools' asdict() insists on exactly one
    # result; the schema allows a list, so several tasks (a hand-made event) get the same shape.
    from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
        S3BatchOperationResponseRecord,
    )

    if len(response.results) == 1:
        return dict(response.asdict())
    single = dataclasses.replace(response, results=[S3BatchOperationResponseRecord("", "Succeeded")])
    return dict(single.asdict()) | {"results": [r.asdict() for r in response.results]}


def _result_code(result: ObjectResult) -> tuple[ResultCode, str]:
    if result.outcome in (Outcome.TAGGED, Outcome.UNCHANGED):
        return "Succeeded", f"{result.outcome.value}: {result.new}"
    if result.outcome is Outcome.PENDING:
        # Not an error: the stream Lambda tags it when the verdict arrives.
        return "Succeeded", "pending: no verdict yet"
    if result.outcome is Outcome.MISSING:
        return "PermanentFailure", f"missing: {result.error}"
    return ("TemporaryFailure" if result.transient else "PermanentFailure"), f"failed: {result.error}"


def _task_result(
    task: S3BatchOperationTask, code: ResultCode, message: str
) -> S3BatchOperationResponseRecord:
    from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
        S3BatchOperationResponseRecord,
    )

    return S3BatchOperationResponseRecord(str(task.get("taskId", "")), code, message[:1024])
