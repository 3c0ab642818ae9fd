"""An SQS event source mapping, as Lambda's poller runs it: receive, invoke, delete what succeeded.

Messages that fail are not touched: they become visible again after the queue's visibility timeout, and the
queue's own redrive policy moves them to its DLQ after maxReceiveCount receives (SQS does that on receive,
and so does the emulator).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import botocore.exceptions

from picops.local.batches import sqs_outcome
from picops.local.events import sqs_event
from picops.local.faults import Faults
from picops.local.invoke import FunctionTarget, Handler, Invocation
from picops.local.mappings import MappingRecord
from picops.local.stats import MappingStats, Progress
from picops.strict.guard import acting_as, as_operator
from picops.threads import ContextThreadPool

SQS_MAX_RECEIVE = 10  # ReceiveMessage returns at most 10 messages per call
DELETE_BATCH = 10
# A poll with every worker busy waits this long for one before answering "nothing received".
IDLE_SLOT_WAIT_S = 0.05
# After a throttle the worker pauses before taking the next batch, as Lambda's poller backs off.
THROTTLE_BACKOFF_S = 0.05

Invoke = Callable[[FunctionTarget, Handler, Any], Invocation]


def queue_url_of(sqs: Any, arn: str) -> str:
    parts = arn.split(":")
    return str(sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"])


class SqsSource:
    """One SQS mapping. With MaximumConcurrency above 1, batches run in a pool of that many workers while
    this poller keeps receiving; a FIFO queue never hands out a message group with messages in flight, so
    each group has one batch in flight and groups run in parallel."""

    def __init__(
        self,
        sqs: Any,
        mapping: MappingRecord,
        target: FunctionTarget,
        handler: Handler,
        invoke: Invoke,
        stats: MappingStats,
        progress: Progress,
    ) -> None:
        self.sqs = sqs
        self.mapping = mapping
        self.target = target
        self.handler = handler
        self.invoke = invoke
        self.stats = stats
        self.progress = progress
        self.fifo = mapping.source_arn.endswith(".fifo")
        self.queue_url = queue_url_of(sqs, mapping.source_arn)
        # Message ids this run has handed to the function (drain mode stops on redeliveries only).
        self.seen: set[str] = set()
        self.concurrency = mapping.max_concurrency or 1
        self._pool = ContextThreadPool(self.concurrency) if self.concurrency > 1 else None
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._lock = threading.Lock()
        self._running = 0
        # `--faults`: set by the runtime (None: no faults).
        self.faults: Faults | None = None
        self._received = 0  # batches received so far: the next one's index

    @property
    def busy(self) -> bool:
        """Batches are still being handled (their messages are in flight, not lost)."""
        return self._running > 0

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Until every batch in hand has been handled; False if `timeout_s` passed first."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self._running:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _receive(self, wait_s: int) -> list[dict[str, Any]]:
        """Up to BatchSize messages: one long poll, then immediate receives while full batches keep coming."""
        messages: list[dict[str, Any]] = []
        wait = wait_s
        while len(messages) < self.mapping.batch_size:
            want = min(SQS_MAX_RECEIVE, self.mapping.batch_size - len(messages))
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=want,
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            messages += got
            wait = 0
            if len(got) < want:
                break
        return messages

    def poll(self, wait_s: int) -> tuple[int, int]:
        """One batch. Returns (messages received, of which not received before in this run). With a pool,
        waits (at most `wait_s`, or a moment) for a free worker first and returns once the batch is handed
        to one; AWS errors of the batch's own calls are then reported by the worker."""
        # On AWS the mapping polls and deletes with the function's role: so does the local runtime.
        with acting_as(self.target.name):
            if not self._slots.acquire(timeout=max(wait_s, IDLE_SLOT_WAIT_S)):
                return 0, 0
            try:
                messages = self._receive(wait_s)
            except BaseException:
                self._slots.release()
                raise
            if not messages:
                self._slots.release()
                return 0, 0
            fresh = sum(1 for m in messages if m["MessageId"] not in self.seen)
            self.seen.update(m["MessageId"] for m in messages)
            self._start(messages, self._received)
            self._received += 1
            return len(messages), fresh

    def _start(self, messages: list[dict[str, Any]], index: int) -> None:
        with self._lock:
            self._running += 1
            self.stats.max_concurrent = max(self.stats.max_concurrent, self._running)
        if self._pool is None:
            self._handle(messages, index)
        else:
            self._pool.submit(self._handle_reporting, messages, index)

    def _handle_reporting(self, messages: list[dict[str, Any]], index: int) -> None:
        try:
            self._handle(messages, index)
        except botocore.exceptions.ClientError as exc:
            self.progress(f"{self.mapping.logical}: {exc}; the batch comes back after its visibility timeout")

    def _handle(self, messages: list[dict[str, Any]], index: int) -> None:
        try:
            event = sqs_event(messages, self.mapping.source_arn)
            with self._lock:
                self.stats.retries += sum(
                    1 for r in event["Records"] if r["attributes"].get("ApproximateReceiveCount", "1") != "1"
                )
            if self.faults is None:
                result: Invocation | None = self.invoke(self.target, self.handler, event)
            else:
                result = self._with_faults(self.faults, messages, event, f"{self.mapping.logical}:{index}")
            if result is None:
                return
            if result.throttled:
                self._throttled(messages)
                return
            self._settle(messages, event, result)
        finally:
            with self._lock:
                self._running -= 1
            self._slots.release()

    def _with_faults(
        self, faults: Faults, messages: list[dict[str, Any]], event: dict[str, Any], key: str
    ) -> Invocation | None:
        """The invocation under `--faults`; None when a fault already dealt with the batch. `key` is the
        batch's place in the mapping's sequence: the nth batch meets the same faults in every run with the
        same seed, whatever the workers' interleaving put in it."""
        if faults.chance("throttle", key):
            self._throttled(messages)
            return None
        event["Records"] = faults.reorder(event["Records"], key, fifo=self.fifo)
        with faults.invocation(key):
            result = self.invoke(self.target, self.handler, event)
        if result.throttled:
            return result
        crashed = faults.chance("crash", key)
        if crashed or faults.chance("duplicate", key):
            # Crash: the writes happened, the ack never does. Duplicate: SQS delivers the batch again.
            with self._lock:
                self.stats.invocations += 1
                self.stats.records += len(messages)
                if crashed:
                    self.stats.crashes += 1
                else:
                    self.stats.duplicates += 1
            self.give_back(messages)
            what = (
                "the runtime crashed after the handler's writes, before the ack"
                if crashed
                else ("delivered again (duplicate)")
            )
            self.progress(
                f"{self.mapping.logical}: {len(messages)} message(s) -> {self.target.handler}: {what}"
            )
            return None
        return result

    def _throttled(self, messages: list[dict[str, Any]]) -> None:
        """As Lambda's poller: the batch goes back to the queue (its receive still counts towards the
        redrive policy's maxReceiveCount) and the poller backs off."""
        with self._lock:
            self.stats.throttles += 1
        self.give_back(messages)
        self.progress(
            f"{self.mapping.logical}: {len(messages)} message(s) throttled by {self.target.name}'s reserved "
            "concurrency; given back"
        )
        time.sleep(THROTTLE_BACKOFF_S)

    def give_back(self, messages: list[dict[str, Any]]) -> None:
        """Visible again at once (ChangeMessageVisibility 0) rather than after the visibility timeout.

        The runtime's own doing, not the poller's (a function's role need not allow ChangeMessageVisibility,
        and Lambda's poller does not call it): made with the operator's credentials, as a stop's give-back."""
        with as_operator():
            self._give_back(messages)

    def _give_back(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), DELETE_BATCH):
            chunk = messages[start : start + DELETE_BATCH]
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(chunk)
                ],
            )

    def _settle(self, messages: list[dict[str, Any]], event: dict[str, Any], result: Invocation) -> None:
        outcome = sqs_outcome(
            event["Records"],
            response=result.response,
            error=result.error,
            report_failures=self.mapping.report_failures,
            fifo=self.fifo,
        )
        with self._lock:
            self.stats.invocations += 1
            self.stats.records += len(messages)
            self.stats.failed_records += len(outcome.failed)
            self.stats.timeouts += result.timed_out
            if outcome.detail:
                self.stats.function_errors += 1
                self.stats.fail(outcome.detail)
        handles = {m["MessageId"]: m["ReceiptHandle"] for m in messages}
        undeleted = self._delete([handles[i] for i in outcome.delete])
        line = (
            f"{self.mapping.logical}: {len(messages)} message(s) -> {self.target.handler}: "
            f"{len(outcome.delete) - undeleted} deleted, {len(outcome.failed)} failed"
        )
        if outcome.detail:
            line += f" ({outcome.detail})"
        if result.timed_out:
            line += (
                f" (stopped after {result.elapsed_s:.1f} s at the function's {self.target.timeout_s} s "
                "timeout; the batch is given back for retry)"
            )
            self.give_back([m for m in messages if m["MessageId"] in outcome.failed])
        self.progress(line)

    def _delete(self, receipts: list[str]) -> int:
        """DeleteMessageBatch in tens; returns how many could not be deleted (they will be redelivered)."""
        failed = 0
        for start in range(0, len(receipts), DELETE_BATCH):
            chunk = receipts[start : start + DELETE_BATCH]
            response = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(chunk)],
            )
            for entry in response.get("Failed", []):
                failed += 1
                self.progress(
                    f"{self.mapping.logical}: could not delete a processed message "
                    f"({entry.get('Code')}: {entry.get('Message')}); it will be delivered again"
                )
        return failed
