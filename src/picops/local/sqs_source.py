"""An SQS event source mapping, as Lambda's poller runs it: receive, invoke, delete what succeeded.

Messages that fail are not touched: they become visible again after the queue's visibility timeout, and the
queue's own redrive policy moves them to its DLQ after maxReceiveCount receives (SQS does that on receive,
and so does the emulator).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from picops.local.batches import sqs_outcome
from picops.local.events import sqs_event
from picops.local.invoke import FunctionTarget, Handler, Invocation
from picops.local.mappings import MappingRecord
from picops.local.stats import MappingStats, Progress
from picops.strict.guard import acting_as

SQS_MAX_RECEIVE = 10  # ReceiveMessage returns at most 10 messages per call
DELETE_BATCH = 10

Invoke = Callable[[FunctionTarget, Handler, Any], Invocation]


def queue_url_of(sqs: Any, arn: str) -> str:
    parts = arn.split(":")
    return str(sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"])


class SqsSource:
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
        """One batch. Returns (messages received, of which not received before in this run)."""
        # On AWS the mapping polls and deletes with the function's role: so does the local runtime.
        with acting_as(self.target.name):
            return self._poll(wait_s)

    def _poll(self, wait_s: int) -> tuple[int, int]:
        messages = self._receive(wait_s)
        if not messages:
            return 0, 0
        fresh = sum(1 for m in messages if m["MessageId"] not in self.seen)
        self.seen.update(m["MessageId"] for m in messages)
        event = sqs_event(messages, self.mapping.source_arn)
        result = self.invoke(self.target, self.handler, event)
        outcome = sqs_outcome(
            event["Records"],
            response=result.response,
            error=result.error,
            report_failures=self.mapping.report_failures,
            fifo=self.fifo,
        )
        self.stats.invocations += 1
        self.stats.records += len(messages)
        self.stats.failed_records += len(outcome.failed)
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
            line += f" (ran {result.elapsed_s:.1f} s, over the function's {self.target.timeout_s} s timeout)"
        self.progress(line)
        return len(messages), fresh

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
