"""What Lambda does with a batch once the function returned or raised (pure logic, no AWS calls).

SQS: with `ReportBatchItemFailures`, every message except the `batchItemFailures` identifiers is deleted;
without it, all are deleted on success and none when the function raised. A response naming an identifier
that is empty or not in the batch makes Lambda treat the whole batch as failed. FIFO queues keep order
within a message group, so a failed message also fails every later message of its group in that batch.

DynamoDB streams: a function error fails the batch from its first record; with `ReportBatchItemFailures`
the batch is retried from the lowest failed sequence number (records before it are checkpointed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class InvalidBatchResponse(ValueError):
    """The function's partial-failure response cannot be honoured; Lambda fails the whole batch."""


def reported_failures(response: Any, identifiers: Sequence[str]) -> set[str]:
    """The identifiers a `{"batchItemFailures": [{"itemIdentifier": ...}]}` response names.

    A missing or empty response, or an empty list, means every item succeeded (as on AWS).
    """
    if response is None or not isinstance(response, Mapping):
        return set()
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        raise InvalidBatchResponse("batchItemFailures is not a list")
    known = set(identifiers)
    out: set[str] = set()
    for entry in failures:
        ident = entry.get("itemIdentifier") if isinstance(entry, Mapping) else None
        if not isinstance(ident, str) or not ident:
            raise InvalidBatchResponse(f"batchItemFailures entry without an itemIdentifier: {entry!r}")
        if ident not in known:
            raise InvalidBatchResponse(f"batchItemFailures names {ident!r}, which is not in the batch")
        out.add(ident)
    return out


@dataclass(frozen=True)
class SqsOutcome:
    delete: tuple[str, ...]  # messageIds to delete, batch order
    failed: tuple[str, ...]  # messageIds left on the queue, batch order
    detail: str | None = None  # why the whole batch failed, when it did


def sqs_outcome(
    records: Sequence[Mapping[str, Any]],
    *,
    response: Any,
    error: BaseException | None,
    report_failures: bool,
    fifo: bool,
) -> SqsOutcome:
    ids = [str(r["messageId"]) for r in records]
    if error is not None:
        return SqsOutcome((), tuple(ids), f"function error: {type(error).__name__}: {error}")
    if not report_failures:
        return SqsOutcome(tuple(ids), ())
    try:
        failed = reported_failures(response, ids)
    except InvalidBatchResponse as exc:
        return SqsOutcome((), tuple(ids), f"invalid batch response: {exc}")
    if fifo:
        blocked: set[str] = set()
        for record, ident in zip(records, ids, strict=True):
            group = str((record.get("attributes") or {}).get("MessageGroupId", ""))
            if group in blocked:
                failed.add(ident)
            elif ident in failed:
                blocked.add(group)
    return SqsOutcome(
        tuple(i for i in ids if i not in failed),
        tuple(i for i in ids if i in failed),
    )


@dataclass(frozen=True)
class StreamOutcome:
    # Index of the first record to retry from; None when the whole batch succeeded.
    retry_from: int | None
    # The function raised or answered unusably (bisecting applies only to these).
    function_error: bool = False
    detail: str | None = None


def stream_outcome(
    records: Sequence[Mapping[str, Any]],
    *,
    response: Any,
    error: BaseException | None,
    report_failures: bool,
) -> StreamOutcome:
    if error is not None:
        return StreamOutcome(0, True, f"function error: {type(error).__name__}: {error}")
    if not report_failures:
        return StreamOutcome(None)
    sequences = [str((r.get("dynamodb") or {}).get("SequenceNumber", "")) for r in records]
    try:
        failed = reported_failures(response, sequences)
    except InvalidBatchResponse as exc:
        return StreamOutcome(0, True, f"invalid batch response: {exc}")
    if not failed:
        return StreamOutcome(None)
    first = min(i for i, seq in enumerate(sequences) if seq in failed)
    return StreamOutcome(first, False, f"{len(failed)} record(s) reported failed")
