"""Moderation Lambdas: tag S3 objects with their vendor verdict (contract entry points, DESIGN.md section 5).

- `stream_handler`: ModerationTable's DynamoDB stream. INSERT/MODIFY with a verdict in NewImage tags that
  object now; REMOVE keeps the tag (or removes it with `[moderation] on_remove = "remove"`). Transient errors
  are reported in `batchItemFailures` (itemIdentifier = SequenceNumber) so only those are retried;
  malformed records are logged and skipped.
- `sweep_handler`: the hourly EventBridge schedule. Runs the engine over UploadsBucket until the remaining
  time drops below `[moderation] sweep_margin_s`, saving a continuation point (see `core.tagging.sweep`).
- `batch_handler`: S3 Batch Operations LambdaInvoke, schema 1.0 and 2.0, one result per task.

Thin by design: parse the event, call the engine, shape the response. Clients and settings are built on the
first invocation, once per container.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)

from picops.aws import ClientFactory, lambda_factory
from picops.config import Settings, settings_from_env
from picops.core.tagging import (
    Candidate,
    EngineOptions,
    ObjectResult,
    Outcome,
    TaggingEngine,
    VerdictLookup,
    run_sweep,
)
from picops.stack.metrics import NAMESPACE, service_name
from picops.stack.names import StackNames

logger = Logger(service="picops-moderation")
# EMF metrics (namespace PicOps, dimension service from POWERTOOLS_SERVICE_NAME), one document per invocation
# with the dimension kind = stream | sweep | batch; the stack's dashboard shows them (picops.stack.metrics).
metrics = Metrics(namespace=NAMESPACE)
# Report every transient failure in batchItemFailures, even when it is the whole batch (the contract), rather
# than raising: Lambda then retries exactly the failed records, bisecting nothing.
_stream_processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


class TransientTaggingError(Exception):
    """Raised for a record worth retrying (throttling, 5xx): Powertools reports it in batchItemFailures."""


class MalformedRecord(ValueError):
    pass


@functools.cache
def _settings() -> Settings:
    return settings_from_env()


def _factory() -> ClientFactory:
    return lambda_factory()


def _account(context: Any) -> str:
    # arn:aws:lambda:region:ACCOUNT:function:name — saves an STS call on cold start.
    arn = str(getattr(context, "invoked_function_arn", "") or "")
    parts = arn.split(":")
    if len(parts) >= 5 and parts[4].isdigit():
        return parts[4]
    return _factory().account_id()


def _names(context: Any) -> StackNames:
    return StackNames(_settings(), _account(context), _factory().region)


def _engine(concurrency: int, *, with_lookup: bool, table: str = "", overwrite: bool = True) -> TaggingEngine:
    moderation = _settings().moderation
    factory = _factory()
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
    )


def _log_result(result: ObjectResult, **extra: Any) -> None:
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
    _count(result.outcome)
    if result.outcome is Outcome.FAILED:
        logger.warning("object not tagged", extra=fields)
    else:
        logger.info("object processed", extra=fields)


def _count(outcome: Outcome, n: int = 1) -> None:
    if n and outcome in (Outcome.TAGGED, Outcome.FAILED):
        name = "ModerationTagged" if outcome is Outcome.TAGGED else "ModerationFailed"
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=n)


def _publish(kind: str) -> None:
    """Flush what this invocation counted (nothing counted: nothing printed)."""
    if metrics.metric_set:
        # Named here, not at import: the local runtime applies a function's environment per call.
        metrics.add_dimension(name="service", value=service_name(_settings().stack.name))
        metrics.add_dimension(name="kind", value=kind)
        metrics.flush_metrics()


# -- DynamoDB stream -----------------------------------------------------------------------------------


def _string_attr(image: dict[str, Any], name: str, what: str) -> str:
    value = image.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedRecord(f"{what} attribute {name!r} missing or not a non-empty string")
    return value


def _stream_record(record: DynamoDBRecord, context: Any = None) -> None:
    moderation = _settings().moderation
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
    bucket = _names(context).uploads_bucket
    candidate = Candidate(bucket, key)
    if event_name is DynamoDBRecordEventName.REMOVE:
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
    if result.transient:
        raise TransientTaggingError(f"{key}: {result.error}")


def _sequence(record: DynamoDBRecord) -> str | None:
    stream = record.get("dynamodb") or {}
    return stream.get("SequenceNumber") if isinstance(stream, dict) else None


def stream_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=_stream_record, processor=_stream_processor, context=context
    )
    _publish("stream")
    return dict(response)


# -- hourly sweep --------------------------------------------------------------------------------------


def sweep_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # `picops tag-backfill --engine batch-operations` creates jobs invoking this function's `live` alias
    # (the stack has no separate function for it), so the same code serves both event kinds.
    if isinstance(event, dict) and "invocationSchemaVersion" in event and "tasks" in event:
        return batch_handler(event, context)
    names = _names(context)
    moderation = _settings().moderation
    concurrency = moderation.sweep_concurrency
    factory = _factory()
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
    )
    summary = result.as_dict()
    logger.info("sweep finished", extra={"schedule_event_id": event.get("id"), **summary})
    _count(Outcome.TAGGED, int(summary.get("tagged", 0)))
    _count(Outcome.FAILED, int(summary.get("failed", 0)))
    _publish("sweep")
    return summary


# -- S3 Batch Operations -------------------------------------------------------------------------------


def _task_candidate(task: dict[str, Any], schema: str) -> Candidate:
    raw_key = task["s3Key"]
    if not isinstance(raw_key, str) or not raw_key:
        raise ValueError("task has no s3Key")
    # Schema 1.0 names the bucket by ARN, 2.0 by name.
    bucket = str(task["s3BucketArn"]).rsplit(":", 1)[-1] if schema == "1.0" else str(task["s3Bucket"])
    version = task.get("s3VersionId")
    # Batch Operations passes keys URL-encoded, as in the manifest (`+` is a space).
    return Candidate(bucket, unquote_plus(raw_key, encoding="utf-8"), str(version) if version else None)


def batch_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    schema = str(event.get("invocationSchemaVersion", ""))
    if schema not in {"1.0", "2.0"}:
        raise ValueError(f"unsupported S3 Batch Operations invocationSchemaVersion {schema!r}")
    user_args = (event.get("job") or {}).get("userArguments") or {}
    overwrite = str(user_args.get("overwrite", "true")).lower() != "false"
    tasks = list(event.get("tasks") or [])
    results: list[dict[str, str]] = []
    parsed: list[tuple[str, Candidate]] = []
    for task in tasks:
        task_id = str(task.get("taskId", ""))
        try:
            parsed.append((task_id, _task_candidate(task, schema)))
        except (KeyError, TypeError, ValueError) as exc:
            results.append(_task_result(task_id, "PermanentFailure", f"malformed task: {exc}"))
    names = _names(context)
    engine = _engine(
        _settings().moderation.sweep_concurrency,
        with_lookup=True,
        table=names.moderation_table,
        overwrite=overwrite,
    )
    verdicts: dict[str, str | None] = {}
    try:
        assert engine.verdicts is not None
        verdicts = engine.verdicts.lookup(c.key for _, c in parsed)
    except Exception as exc:  # the table is unreachable or throttled: every task may succeed on retry
        logger.warning("verdict lookup failed", extra={"error": str(exc)})
        results.extend(
            _task_result(t, "TemporaryFailure", f"verdict lookup failed: {exc}") for t, _ in parsed
        )
        parsed = []
    for task_id, candidate in parsed:
        result = engine.tag_object(candidate, verdicts.get(candidate.key))
        _log_result(result, task_id=task_id)
        results.append(_task_result(task_id, *_result_code(result)))
    _publish("batch")
    return {
        "invocationSchemaVersion": schema,
        "treatMissingKeysAs": "PermanentFailure",
        "invocationId": event.get("invocationId"),
        "results": results,
    }


def _result_code(result: ObjectResult) -> tuple[str, str]:
    if result.outcome in (Outcome.TAGGED, Outcome.UNCHANGED):
        return "Succeeded", f"{result.outcome.value}: {result.new}"
    if result.outcome is Outcome.PENDING:
        # Not an error: the stream Lambda tags it when the verdict arrives.
        return "Succeeded", "pending: no verdict yet"
    if result.outcome is Outcome.MISSING:
        return "PermanentFailure", f"missing: {result.error}"
    return ("TemporaryFailure" if result.transient else "PermanentFailure"), f"failed: {result.error}"


def _task_result(task_id: str, code: str, message: str) -> dict[str, str]:
    return {"taskId": task_id, "resultCode": code, "resultString": message[:1024]}
