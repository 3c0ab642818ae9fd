"""Ingest Lambda (contract entry point `picops.handlers.ingest.handler`, docs/architecture.md).

IngestQueue delivers S3 event notifications for uploads under `[ingest] prefix`; each becomes a thumbnail in
ProcessedBucket or records in JobsTable, a job item, and one notification (`picops.core.ingest`). A removal
(`s3:ObjectRemoved:*`) deletes what that version made and marks its job DELETED
(`picops.core.ingest.removal`). Powertools'
`BatchProcessor(EventType.SQS)` reports only the messages with a transient failure in batchItemFailures, so
Lambda retries exactly those. `s3:TestEvent` bodies and bodies that are not S3 notifications are
acknowledged (the latter logged and counted: they can never succeed).

Clients and settings are built on the first invocation, once per container. Logs name bucket, key, version
and message id, never object contents. Metrics (EMF, namespace `PicOps`, the table in picops.stack.metrics):
`IngestProcessed`/`IngestFailed` by kind, `IngestThumbnailMs`, `IngestUnrecognised`, and `IngestRetried`,
`IngestSkipped`, `IngestDuplicates`.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from picops.core.ingest.events import NotS3Notification, ObjectRef, parse_body
from picops.core.ingest.pipeline import IngestConfig, IngestPipeline, ObjectOutcome, Outcome
from picops.core.ingest.reprocess import FORCE_ATTRIBUTE, TOKEN_ATTRIBUTE
from picops.handlers import _env, _tracing
from picops.handlers._metrics import publish_by_kind
from picops.stack.metrics import NAMESPACE, service_name

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import S3BatchOperationResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from picops.core.ingest.backfill import BackfillItem
    from picops.core.ingest.removal import Removal

logger = Logger(service="picops-ingest")
# X-Ray: active only inside Lambda with `[observability] tracing` on (docs/operating.md, "Tracing");
# with it off the X-Ray SDK is not even imported (picops.handlers._tracing).
tracer = _tracing.tracer("picops-ingest")
# EMF in the stack's namespace (picops.stack.metrics, what the dashboard reads): per-kind counts carry the
# dimensions service and kind, the rest service only. Flushed per invocation, dimensions named then (the local
# runtime applies a function's environment per call).
metrics = Metrics(namespace=NAMESPACE)
_by_kind: Counter[tuple[str, str]] = Counter()
# The lease outlives the invocation by this much, so it never ends while the claiming attempt still runs.
LEASE_MARGIN_S = 5.0
DEFAULT_LEASE_S = 900.0


# Powertools' batch utility and its event classes load on the first batch, not at import: with the settings,
# they are most of what a cold start adds to `import boto3` (docs/architecture.md, "Cold start").
@functools.cache
def _processor() -> BatchProcessor:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

    return BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class TransientIngestError(Exception):
    """A message worth retrying: Powertools reports it in batchItemFailures."""


def _pipeline(account: str) -> IngestPipeline:
    return _env.once(("pipeline", account), lambda: _make_pipeline(account))


def _make_pipeline(account: str) -> IngestPipeline:
    factory, settings = _env.factory(), _env.settings()
    return IngestPipeline(
        s3=factory.client("s3"),
        dynamodb=factory.client("dynamodb"),
        sns=factory.client("sns"),
        config=IngestConfig.from_settings(settings.ingest, _env.names(account)),
    )


def _removal(account: str) -> Removal:
    return _env.once(("removal", account), lambda: _make_removal(account))


def _make_removal(account: str) -> Removal:
    # Only a removal event needs it; uploads, the commonest event, never load it.
    from picops.core.ingest.removal import Removal

    factory, settings = _env.factory(), _env.settings()
    config = IngestConfig.from_settings(settings.ingest, _env.names(account))
    return Removal(s3=factory.client("s3"), dynamodb=factory.client("dynamodb"), config=config)


def _lease_s(context: Any) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        return max(1.0, int(remaining()) / 1000) + LEASE_MARGIN_S
    return DEFAULT_LEASE_S


def _attribute(record: SQSRecord, name: str) -> str | None:
    attribute = (record.get("messageAttributes") or {}).get(name) or {}
    value = attribute.get("stringValue")
    return str(value) if value else None


def _record(record: SQSRecord, lambda_context: Any = None) -> None:
    message_id = record.message_id
    try:
        parsed = parse_body(record.body)
    except NotS3Notification as exc:
        logger.error(
            "message is not an S3 notification; acknowledged",
            extra={"message_id": message_id, "error": str(exc)},
        )
        metrics.add_metric(name="IngestUnrecognised", unit=MetricUnit.Count, value=1)
        return
    if parsed.test_event:
        logger.info("s3:TestEvent acknowledged", extra={"message_id": message_id})
        return
    for ignored in parsed.ignored:
        logger.info("not an S3 object event; ignored", extra={"message_id": message_id, "event": ignored})
    account = _env.account(lambda_context)
    retry: list[str] = []
    for removed in parsed.removed:
        outcome = _removal(account).remove(removed)
        _observe(outcome, message_id)
        if outcome.transient:
            retry.append(f"{removed.key}: {outcome.reason}")
    if parsed.refs:
        retry += _created(parsed.refs, record, lambda_context, message_id, account)
    if retry:
        raise TransientIngestError("; ".join(retry))


def _created(
    refs: tuple[ObjectRef, ...], record: SQSRecord, lambda_context: Any, message_id: str, account: str
) -> list[str]:
    pipeline = _pipeline(account)
    token = _attribute(record, TOKEN_ATTRIBUTE)
    force = _attribute(record, FORCE_ATTRIBUTE) == "true"
    retry: list[str] = []
    for ref in refs:
        tracer.put_annotation("key", ref.key)
        outcome = pipeline.process(ref, lease_s=_lease_s(lambda_context), token=token, force=force)
        _observe(outcome, message_id)
        if outcome.transient:
            retry.append(f"{ref.key}: {outcome.reason}")
    return retry


def _observe(outcome: ObjectOutcome, message_id: str) -> None:
    ref = outcome.ref
    fields = {
        "message_id": message_id,
        "bucket": ref.bucket,
        "key": ref.key,
        "version_id": ref.version_id,
        "etag": ref.etag,
        "outcome": outcome.outcome.value,
        "kind": outcome.kind,
        "reason": outcome.reason,
        "outputs": outcome.outputs,
    }
    kind = outcome.kind or "unknown"
    if outcome.outcome is Outcome.PROCESSED:
        logger.info("object processed", extra=fields)
        _by_kind["IngestProcessed", kind] += 1
        if outcome.thumbnail_ms is not None:
            metrics.add_metric(
                name="IngestThumbnailMs", unit=MetricUnit.Milliseconds, value=outcome.thumbnail_ms
            )
    elif outcome.outcome is Outcome.FAILED:
        logger.warning("object failed", extra=fields)
        _by_kind["IngestFailed", kind] += 1
    elif outcome.transient:
        logger.warning("object will be retried", extra=fields)
        metrics.add_metric(name="IngestRetried", unit=MetricUnit.Count, value=1)
    elif outcome.outcome is Outcome.DELETED:
        logger.info("original deleted; derived outputs removed", extra=fields)
    elif outcome.outcome is Outcome.SKIPPED:
        logger.info("object skipped", extra=fields)
        metrics.add_metric(name="IngestSkipped", unit=MetricUnit.Count, value=1)
    else:
        logger.info("duplicate delivery", extra=fields)
        metrics.add_metric(name="IngestDuplicates", unit=MetricUnit.Count, value=1)


def _publish_metrics() -> None:
    service = service_name(_env.settings().stack.name)
    if metrics.metric_set:
        metrics.add_dimension(name="service", value=service)
        metrics.flush_metrics()
    publish_by_kind(_by_kind, service)


@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # `picops ingest backfill --engine batch-operations` invokes this function's `live` alias (the stack has
    # no separate function for it), so the same entry serves both event kinds.
    if isinstance(event, dict) and "invocationSchemaVersion" in event and "tasks" in event:
        return batch_handler(event, context)
    from aws_lambda_powertools.utilities.batch import process_partial_response

    try:
        response = process_partial_response(
            event=event, record_handler=_record, processor=_processor(), context=context
        )
    finally:
        _publish_metrics()
    return dict(response)


# -- S3 Batch Operations: backfill --------------------------------------------------------------------


def batch_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """S3 Batch Operations LambdaInvoke (schema 1.0 and 2.0): render the renditions each task's object
    version lacks (user argument `renditions`: comma-separated names, default every configured one)."""
    from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
        S3BatchOperationEvent,
        S3BatchOperationJob,
        S3BatchOperationResponse,
        S3BatchOperationResponseRecord,
        S3BatchOperationTask,
    )

    # Only S3 Batch Operations' backfill comes this way: the SQS path never loads it.
    from picops.core.ingest.backfill import Backfill, wanted_set

    batch = S3BatchOperationEvent(event)
    schema = str(batch.get("invocationSchemaVersion", ""))
    if schema not in {"1.0", "2.0"}:
        raise ValueError(f"unsupported S3 Batch Operations invocationSchemaVersion {schema!r}")
    pipeline = _pipeline(_env.account(context))
    names = str(S3BatchOperationJob(batch.get("job") or {}).user_arguments.get("renditions") or "")
    response = S3BatchOperationResponse(schema, str(batch.get("invocationId") or ""), "PermanentFailure")
    try:
        wanted = wanted_set(pipeline.config, [n for n in names.split(",") if n])
    except ValueError as exc:  # the job names a rendition this stack does not configure: no task can work
        wanted, refused = (), str(exc)
    else:
        refused = ""
    for task in (S3BatchOperationTask(t) for t in batch.get("tasks") or []):
        task_id = str(task.get("taskId", ""))
        if refused or not task.get("s3Key") or not task.s3_bucket:
            reason = refused or "malformed task: no bucket or s3Key"
            response.add_result(S3BatchOperationResponseRecord(task_id, "PermanentFailure", reason[:1024]))
            continue
        version = task.s3_version_id
        ref = ObjectRef(str(task.s3_bucket), task.s3_key, version_id=str(version) if version else None)
        item = Backfill(pipeline).one(ref, wanted)
        logger.info("backfill task", extra={"task_id": task_id, **item.as_dict()})
        code, message = _task_code(item)
        response.add_result(S3BatchOperationResponseRecord(task_id, code, message[:1024]))
    return _batch_document(response)


def _task_code(item: BackfillItem) -> tuple[Any, str]:
    message = f"{item.result}: {', '.join(item.renditions) or item.reason or 'nothing to do'}"
    if item.result != "failed":
        return "Succeeded", message
    return ("TemporaryFailure" if item.transient else "PermanentFailure"), message


def _batch_document(response: S3BatchOperationResponse) -> dict[str, Any]:
    # S3 Batch Operations sends one task per invocation; Powertools' asdict() insists on exactly one
    # result, and a hand-made event with several tasks gets them all in the same shape.
    if len(response.results) == 1:
        return dict(response.asdict())
    document = {
        "invocationSchemaVersion": response.invocation_schema_version,
        "treatMissingKeysAs": response.treat_missing_keys_as,
        "invocationId": response.invocation_id,
    }
    return document | {"results": [r.asdict() for r in response.results]}
