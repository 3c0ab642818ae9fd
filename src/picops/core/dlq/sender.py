"""Send messages with SendMessageBatch and report exactly which ones SQS confirmed.

SendMessageBatch answers per entry: only entries listed under `Successful` were stored. Entries under
`Failed` with `SenderFault: false` (throttling, internal errors) are retried here with backoff; this is the
one kind of retry botocore cannot do for us, since the HTTP call itself succeeded. Entries with
`SenderFault: true` (too large, invalid attribute...) would fail again and are reported, never dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from picops.aws_errors import code_of, message_of
from picops.core.dlq.messages import QueueMessage, pack_batches

DEFAULT_ATTEMPTS = 5
# Errors SQS raises for a whole batch because of what one message holds (too large, bad characters or
# attributes). The batch is then split so one bad message cannot block the others; any other error (no
# queue, no permission, throttling past botocore's retries) is about the queue and propagates.
_MESSAGE_ERRORS = frozenset(
    {
        "InvalidParameterValue",
        "InvalidMessageContents",
        "BatchRequestTooLong",
        "MissingParameter",
        "InvalidAttributeValue",
        "InvalidAttributeName",
        "MessageTooLong",
    }
)


def _message_error(exc: botocore.exceptions.ClientError) -> str | None:
    code = code_of(exc).removeprefix("AWS.SimpleQueueService.")
    return code if code in _MESSAGE_ERRORS else None


@dataclass
class SendOutcome:
    sent: list[QueueMessage] = field(default_factory=list)
    # (message, error code, error message)
    failed: list[tuple[QueueMessage, str, str]] = field(default_factory=list)
    requests: int = 0


def send_confirmed(
    sqs: Any,
    queue_url: str,
    messages: list[QueueMessage],
    *,
    fifo: bool,
    attempts: int = DEFAULT_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> SendOutcome:
    """Send `messages` in order (packed by SQS's entry and size limits); `sent` holds only confirmed ones."""
    outcome = SendOutcome()
    for batch in pack_batches(messages):
        _send_batch(sqs, queue_url, batch, fifo=fifo, attempts=attempts, sleep=sleep, outcome=outcome)
    return outcome


def _send_batch(
    sqs: Any,
    queue_url: str,
    batch: list[QueueMessage],
    *,
    fifo: bool,
    attempts: int,
    sleep: Callable[[float], None],
    outcome: SendOutcome,
) -> None:
    pending = {f"m{i}": message for i, message in enumerate(batch)}
    for attempt in range(attempts):
        if not pending:
            break
        if attempt:
            sleep(min(0.1 * 2**attempt, 2.0))
        entries = [message.send_entry(entry_id, fifo=fifo) for entry_id, message in pending.items()]
        try:
            response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        except botocore.exceptions.ClientError as exc:
            outcome.requests += 1
            code = _message_error(exc)
            if code is None:
                raise
            if len(pending) == 1:
                (only,) = pending.values()
                text = message_of(exc)
                outcome.failed.append((only, code, text))
                return
            # One message spoils the batch: send each on its own (in order) to find which.
            for single in pending.values():
                _send_batch(
                    sqs, queue_url, [single], fifo=fifo, attempts=attempts, sleep=sleep, outcome=outcome
                )
            return
        outcome.requests += 1
        for ok in response.get("Successful", []):
            message = pending.pop(str(ok["Id"]), None)
            if message is not None:
                outcome.sent.append(message)
        retry: dict[str, QueueMessage] = {}
        for bad in response.get("Failed", []):
            entry_id = str(bad["Id"])
            message = pending.pop(entry_id, None)
            if message is None:
                continue
            if bad.get("SenderFault"):
                outcome.failed.append((message, str(bad.get("Code", "")), str(bad.get("Message", ""))))
            else:
                retry[entry_id] = message
        # Entries in neither list were not confirmed: treat them like retryable failures.
        retry.update(pending)
        pending = retry
    for message in pending.values():
        outcome.failed.append((message, "RetriesExhausted", f"not confirmed after {attempts} attempts"))
