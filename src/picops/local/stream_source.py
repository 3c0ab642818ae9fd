"""A DynamoDB stream event source mapping, as Lambda's poller runs it (simplified where noted).

Positions: Lambda keeps a checkpoint per shard; here it is an SSM parameter on the endpoint
(`/picops/<stack>/local/checkpoints/<Logical>`), so it lives and dies with the emulated stack like the
mapping record, and a later `picops local run` continues where the last one stopped. A fresh iterator is
taken from the checkpoint on every poll (AFTER_SEQUENCE_NUMBER), so iterator expiry never matters.

StartingPosition: a mapping starts at TRIM_HORIZON or LATEST *when it is created*. On a local endpoint the
mapping is created by provision, not by the pump, so for LATEST without a checkpoint the pump reads the
shard from its start and skips records older than the mapping record (its SSM LastModifiedDate, to the
second). Records written after provision and before the first `local run` are therefore processed, as they
would be on AWS; a record written in the same second as provision may be processed too (at-least-once).

ParallelizationFactor N: each poll reads up to N batches' worth of a shard and deals the records into N lanes
by partition key (a stable hash of the table's hash key attribute; the whole key when the table is not in
the model), so the records of one partition key stay in one lane, in stream order; the lanes' batches run
at once. The poll stops dealing at the first record whose lane is full, so what was handed over is a prefix
of the shard and one checkpoint per shard still says where to resume. When a lane fails, the shard resumes
from the earliest failed record in stream order: records of other lanes after it are delivered again
(at-least-once, as on Lambda when a batch of a parallelised shard is retried).

Failures: a function error fails the batch; with ReportBatchItemFailures the batch is retried from the
lowest failed sequence number. Each failure at the same position counts one retry; after
MaximumRetryAttempts the failed batch is skipped and, when the mapping has an on-failure destination (an
SNS topic or SQS queue), a Lambda-shaped invocation record naming the batch is sent there. With
BisectBatchOnFunctionError a batch that failed as a whole is halved for the next attempt (halvings do not
count as retries; the size returns to BatchSize after a success). Simplified: retries happen on the next
poll, not with Lambda's backoff; shards are read in the order DescribeStream lists them (parents first).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from picops.aws_errors import SERVICE_MISSING, code_of, is_missing
from picops.local.batches import StreamOutcome, stream_outcome
from picops.local.events import dynamodb_event
from picops.local.invoke import FunctionTarget, Handler, Invocation
from picops.local.mappings import MappingRecord
from picops.local.stats import MappingStats, Progress
from picops.strict.guard import acting_as, as_operator
from picops.threads import ContextThreadPool

CHECKPOINT_PATH = "/picops/{stack}/local/checkpoints/{logical}"
# Without MaximumRetryAttempts Lambda retries until the record expires; a one-shot drain gives up sooner.
DRAIN_RETRY_CAP = 10
SHARD_REFRESH_S = 5.0

Invoke = Callable[[FunctionTarget, Handler, Any], Invocation]


def checkpoint_parameter(stack: str, logical: str) -> str:
    return CHECKPOINT_PATH.format(stack=stack, logical=logical)


@dataclass
class ShardState:
    shard_id: str
    checkpoint: str | None  # last sequence number done; None: not started
    closed: bool = False  # the shard has an EndingSequenceNumber (no new records will arrive)
    done: bool = False  # closed and read to its end
    attempts: int = 0  # failures at the current position
    size: int = 0  # next batch size (bisecting shrinks it)
    baseline: dt.datetime | None = None  # LATEST: skip records older than this (until a checkpoint exists)


@dataclass
class Checkpoints:
    """The persisted positions of one mapping."""

    ssm: Any
    name: str
    stream_arn: str
    shards: dict[str, str] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)

    def load(self) -> bool:
        """Read the stored positions; False when there are none for this stream (first run, new stream)."""
        try:
            with as_operator():  # the runtime's own record, not a call of the mapping
                value = self.ssm.get_parameter(Name=self.name)["Parameter"]["Value"]
        except botocore.exceptions.ClientError as exc:
            if is_missing(exc, SERVICE_MISSING):
                return False
            raise
        try:
            doc = json.loads(value)
        except ValueError:
            return False
        if not isinstance(doc, dict) or doc.get("stream_arn") != self.stream_arn:
            # The table was re-created (new stream label): old positions mean nothing.
            return False
        self.shards = {str(k): str(v) for k, v in (doc.get("shards") or {}).items()}
        self.done = {str(s) for s in doc.get("done") or []}
        return True

    def save(self, live_shards: set[str]) -> None:
        # Forget shards the stream no longer lists (trimmed after 24 h) so the value stays small.
        doc = {
            "stream_arn": self.stream_arn,
            "shards": {k: v for k, v in sorted(self.shards.items()) if k in live_shards},
            "done": sorted(s for s in self.done if s in live_shards),
        }
        with as_operator():  # the runtime's own record, not a call of the mapping
            self.ssm.put_parameter(
                Name=self.name,
                Value=json.dumps(doc, sort_keys=True),
                Type="String",
                Overwrite=True,
                Description="picops local runtime: stream positions",
            )


class StreamSource:
    def __init__(
        self,
        streams: Any,
        ssm: Any,
        sns: Any,
        sqs: Any,
        *,
        stack: str,
        mapping: MappingRecord,
        target: FunctionTarget,
        handler: Handler,
        invoke: Invoke,
        stats: MappingStats,
        progress: Progress,
        created_at: dt.datetime | None,
        partition_key: str | None = None,
    ) -> None:
        self.streams = streams
        self.ssm = ssm
        self.sns = sns
        self.sqs = sqs
        self.mapping = mapping
        self.target = target
        self.handler = handler
        self.invoke = invoke
        self.stats = stats
        self.progress = progress
        self.created_at = created_at
        self.checkpoints = Checkpoints(ssm, checkpoint_parameter(stack, mapping.logical), mapping.source_arn)
        self.checkpoints.load()
        self.shards: dict[str, ShardState] = {}
        self._listed_at = 0.0
        self.partition_key = partition_key
        self.factor = mapping.parallelization_factor
        self._pool = ContextThreadPool(self.factor) if self.factor > 1 else None
        self._lock = threading.Lock()
        self._running = 0

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    # -- shards ------------------------------------------------------------------------------------------

    def _describe_shards(self) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StreamArn": self.mapping.source_arn}
        while True:
            desc = self.streams.describe_stream(**kwargs)["StreamDescription"]
            shards += desc.get("Shards", [])
            last = desc.get("LastEvaluatedShardId")
            if not last:
                return shards
            kwargs["ExclusiveStartShardId"] = last

    def refresh_shards(self) -> None:
        listed = self._describe_shards()
        for shard in listed:
            shard_id = str(shard["ShardId"])
            state = self.shards.get(shard_id)
            if state is None:
                state = ShardState(
                    shard_id,
                    self.checkpoints.shards.get(shard_id),
                    size=self.mapping.batch_size,
                    done=shard_id in self.checkpoints.done,
                )
                if (
                    state.checkpoint is None
                    and self.mapping.starting_position != "TRIM_HORIZON"
                    and self.created_at is not None
                ):
                    state.baseline = self.created_at.replace(microsecond=0)
                self.shards[shard_id] = state
            state.closed = "EndingSequenceNumber" in (shard.get("SequenceNumberRange") or {})
        live = {str(s["ShardId"]) for s in listed}
        for gone in set(self.shards) - live:
            del self.shards[gone]

    def checkpoint(self) -> None:
        """Save the positions now (a stopping runtime); nothing before the shards were first listed, so a
        stop that early never overwrites stored positions with none."""
        if self.shards:
            self._save()

    def _save(self) -> None:
        for state in self.shards.values():
            if state.checkpoint is not None:
                self.checkpoints.shards[state.shard_id] = state.checkpoint
            if state.done:
                self.checkpoints.done.add(state.shard_id)
        self.checkpoints.save(set(self.shards))

    # -- polling -----------------------------------------------------------------------------------------

    def _iterator(self, state: ShardState) -> str | None:
        kwargs: dict[str, Any] = {"StreamArn": self.mapping.source_arn, "ShardId": state.shard_id}
        if state.checkpoint is not None:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=state.checkpoint)
        else:
            # LATEST is applied through the baseline (see the module docstring), so read from the start.
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        try:
            return str(self.streams.get_shard_iterator(**kwargs)["ShardIterator"])
        except botocore.exceptions.ClientError as exc:
            if code_of(exc) == "TrimmedDataAccessException":
                # The checkpoint fell out of the 24 h retention: continue from the oldest record kept.
                self.progress(f"{self.mapping.logical}: records after {state.checkpoint} were trimmed")
                kwargs = {k: v for k, v in kwargs.items() if k != "SequenceNumber"}
                kwargs["ShardIteratorType"] = "TRIM_HORIZON"
                return str(self.streams.get_shard_iterator(**kwargs)["ShardIterator"])
            raise

    def poll(self, *, draining: bool) -> tuple[int, bool]:
        """One batch from each shard. Returns (records read, whether any position moved)."""
        # On AWS the mapping reads the stream (and sends failures on) with the function's role.
        with acting_as(self.target.name):
            return self._poll(draining=draining)

    def _poll(self, *, draining: bool) -> tuple[int, bool]:
        now = time.monotonic()
        if not self.shards or now - self._listed_at >= SHARD_REFRESH_S:
            # Shards change rarely (about every 4 h on AWS): list them every few seconds, not every read.
            self.refresh_shards()
            self._listed_at = now
        read, moved = 0, False
        for state in self.shards.values():
            if state.done:
                continue
            n, advanced = self._poll_shard(state, draining=draining)
            read += n
            moved = moved or advanced
        return read, moved

    def _poll_shard(self, state: ShardState, *, draining: bool) -> tuple[int, bool]:
        iterator = self._iterator(state)
        if iterator is None:
            return 0, False
        # ParallelizationFactor N: up to N batches of this shard at once, so read N batches' worth.
        response = self.streams.get_records(ShardIterator=iterator, Limit=max(1, state.size) * self.factor)
        records: list[dict[str, Any]] = response.get("Records", [])
        if not records:
            if state.closed and not response.get("NextShardIterator"):
                state.done = True
                self._save()
            return 0, False
        if state.baseline is not None:
            fresh = [r for r in records if _created(r) is None or _created(r) >= state.baseline]  # type: ignore[operator]
            skipped = len(records) - len(fresh)
            if skipped and not fresh:
                # All older than the mapping: move past them without invoking.
                state.checkpoint = _sequence(records[-1])
                self._save()
                return len(records), True
            if skipped:
                # Older records are a prefix (the stream is ordered): checkpoint before the first fresh one.
                state.checkpoint = _sequence(records[skipped - 1])
                records = fresh
            state.baseline = None
        if self.factor == 1:
            return len(records), self._settle_one(state, records, draining=draining)
        lanes = deal(records, self.factor, max(1, state.size), self._partition_of)
        handed = sorted(i for lane in lanes for i in lane)
        records = records[: len(handed)]
        return len(records), self._invoke_lanes(state, records, lanes, draining=draining)

    def _settle_one(self, state: ShardState, records: list[dict[str, Any]], *, draining: bool) -> bool:
        outcome = self._call(records)
        return self._settle(state, records, outcome, 1, draining=draining, errors=int(outcome.function_error))

    def _partition_of(self, record: dict[str, Any]) -> Any:
        keys = (record.get("dynamodb") or {}).get("Keys") or {}
        return keys.get(self.partition_key, keys) if self.partition_key else keys

    def _invoke_lanes(
        self, state: ShardState, records: list[dict[str, Any]], lanes: list[list[int]], *, draining: bool
    ) -> bool:
        """The lanes' batches at once; one outcome for the shard: resume from the earliest failed record."""
        assert self._pool is not None
        futures = [self._pool.submit(self._call, [records[i] for i in lane]) for lane in lanes]
        outcomes = [f.result() for f in futures]
        if len(lanes) > 1:
            self.stats.parallel_batches += len(lanes)
        failed_at = [
            lane[o.retry_from] for lane, o in zip(lanes, outcomes, strict=True) if o.retry_from is not None
        ]
        errors = [o for o in outcomes if o.function_error]
        details = [o.detail for o in outcomes if o.retry_from is not None and o.detail]
        combined = StreamOutcome(
            min(failed_at) if failed_at else None, bool(errors), "; ".join(details) or None
        )
        return self._settle(state, records, combined, len(lanes), draining=draining, errors=len(errors))

    def _call(self, records: list[dict[str, Any]]) -> StreamOutcome:
        """One batch to the function (from a lane's worker too); its outcome."""
        with self._lock:
            self._running += 1
            self.stats.max_concurrent = max(self.stats.max_concurrent, self._running)
        try:
            event = dynamodb_event(records, self.mapping.source_arn)
            result = self.invoke(self.target, self.handler, event)
        finally:
            with self._lock:
                self._running -= 1
        return stream_outcome(
            event["Records"],
            response=result.response,
            error=result.error,
            report_failures=self.mapping.report_failures,
        )

    def _settle(
        self,
        state: ShardState,
        records: list[dict[str, Any]],
        outcome: StreamOutcome,
        batches: int,
        *,
        draining: bool,
        errors: int,
    ) -> bool:
        """Move the shard's position after its batches (`batches` invocations over `records`)."""
        self.stats.invocations += batches
        self.stats.records += len(records)
        if outcome.function_error:
            self.stats.function_errors += errors
            self.stats.fail(outcome.detail or "function error")
        if outcome.retry_from is None:
            state.checkpoint = _sequence(records[-1])
            state.attempts = 0
            state.size = self.mapping.batch_size
            self._save()
            self.progress(f"{self.mapping.logical}: {len(records)} record(s) -> {self.target.handler}: ok")
            return True
        failed = records[outcome.retry_from :]
        self.stats.failed_records += len(failed)
        moved = outcome.retry_from > 0
        if moved:
            # Records before the first failure are done; the retry counter follows the failed record.
            state.checkpoint = _sequence(records[outcome.retry_from - 1])
            state.attempts = 1
        elif outcome.function_error and self.mapping.bisect_on_error and len(records) > 1:
            state.size = max(1, min(state.size, len(records)) // 2)
            self.progress(
                f"{self.mapping.logical}: batch of {len(records)} failed ({outcome.detail}); "
                f"bisecting to {state.size}"
            )
            self._save()
            return False
        else:
            state.attempts += 1
        limit = self.mapping.max_retries
        if limit is None and draining:
            limit = DRAIN_RETRY_CAP
        self.progress(
            f"{self.mapping.logical}: {len(failed)} of {len(records)} record(s) failed from "
            f"{_sequence(failed[0])} ({outcome.detail}); attempt {state.attempts}"
            + (f" of {limit + 1}" if limit is not None else "")
        )
        if limit is not None and state.attempts > limit:
            self._discard(state, failed, "RetryAttemptsExhausted")
            moved = True
        self._save()
        return moved

    def _discard(self, state: ShardState, failed: list[dict[str, Any]], condition: str) -> None:
        """Give up on a failed batch, as Lambda does after MaximumRetryAttempts."""
        state.checkpoint = _sequence(failed[-1])
        state.attempts = 0
        state.size = self.mapping.batch_size
        note = (
            f"{self.mapping.logical}: gave up on {len(failed)} record(s) "
            f"after {self.mapping.max_retries} retries"
        )
        destination = self.mapping.on_failure_arn
        if destination:
            record = self._failure_record(state, failed, condition)
            try:
                if ":sns:" in destination:
                    self.sns.publish(TopicArn=destination, Message=json.dumps(record))
                elif ":sqs:" in destination:
                    parts = destination.split(":")
                    url = self.sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])[
                        "QueueUrl"
                    ]
                    self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))
                note += f"; batch details sent to {destination}"
            except botocore.exceptions.ClientError as exc:
                note += f"; could not notify {destination}: {exc}"
        self.progress(note)

    def _failure_record(
        self, state: ShardState, failed: list[dict[str, Any]], condition: str
    ) -> dict[str, Any]:
        first, last = failed[0], failed[-1]
        return {
            "requestContext": {
                "requestId": self.target.name,
                "functionArn": self.target.arn,
                "condition": condition,
                "approximateInvokeCount": state.attempts + 1,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "version": "1.0",
            "timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z",
            "DDBStreamBatchInfo": {
                "shardId": state.shard_id,
                "startSequenceNumber": _sequence(first),
                "endSequenceNumber": _sequence(last),
                "approximateArrivalOfFirstRecord": _iso(_created(first)),
                "approximateArrivalOfLastRecord": _iso(_created(last)),
                "batchSize": len(failed),
                "streamArn": self.mapping.source_arn,
            },
        }


def deal(
    records: list[dict[str, Any]], lanes: int, size: int, partition_of: Callable[[Any], Any]
) -> list[list[int]]:
    """Record indices dealt into at most `lanes` batches of at most `size`, each partition key's records in
    one lane in order; dealing stops at the first record whose lane is full (what is dealt is a prefix).
    The lane is a stable hash of the key, as Lambda keeps a partition key on one concurrent batch."""
    dealt: dict[int, list[int]] = {}
    for i, record in enumerate(records):
        digest = hashlib.sha256(json.dumps(partition_of(record), sort_keys=True, default=str).encode())
        lane = int.from_bytes(digest.digest()[:8], "big") % lanes
        if len(dealt.get(lane, ())) >= size:
            break
        dealt.setdefault(lane, []).append(i)
    return [dealt[lane] for lane in sorted(dealt)]


def _sequence(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def _created(record: dict[str, Any]) -> dt.datetime | None:
    value = (record.get("dynamodb") or {}).get("ApproximateCreationDateTime")
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    return None


def _iso(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000Z") if value else None
