"""Look at messages without consuming them: receive, then make them visible again at once.

Receiving is the only way SQS shows a message, so every peek adds one to each message's receive count (and a
message at its queue's maxReceiveCount may move on); the CLI warns about it.
"""

from __future__ import annotations

from typing import Any

from picops.core.dlq.messages import SYSTEM_ATTRIBUTES, QueueMessage
from picops.core.dlq.queues import QueueRef

# Long enough that one peek does not see the same message twice while it collects several receives.
_PEEK_VISIBILITY_S = 30


def peek(sqs: Any, queue: QueueRef, count: int, *, wait_seconds: int = 1) -> list[QueueMessage]:
    """Up to `count` messages from `queue`, left in the queue (visible again when this returns)."""
    seen: list[QueueMessage] = []
    held: list[QueueMessage] = []  # every receipt handle, duplicates included, to release them all
    empty = 0
    try:
        while len(seen) < count and empty < 2:
            params: dict[str, Any] = {
                "QueueUrl": queue.url,
                "MaxNumberOfMessages": min(10, count - len(seen)),
                "WaitTimeSeconds": wait_seconds,
                "VisibilityTimeout": _PEEK_VISIBILITY_S,
                "MessageAttributeNames": ["All"],
                "MessageSystemAttributeNames": list(SYSTEM_ATTRIBUTES),
            }
            batch = [QueueMessage.from_sqs(raw) for raw in sqs.receive_message(**params).get("Messages", [])]
            empty = 0 if batch else empty + 1
            # A long peek can outlast the visibility timeout and see a message twice: keep the first.
            known = {m.message_id for m in seen}
            fresh = [m for m in batch if m.message_id not in known]
            seen.extend(fresh)
            held.extend(batch)
    finally:
        release(sqs, queue, held)
    return seen


def release(sqs: Any, queue: QueueRef, messages: list[QueueMessage]) -> None:
    for start in range(0, len(messages), 10):
        chunk = messages[start : start + 10]
        sqs.change_message_visibility_batch(
            QueueUrl=queue.url,
            Entries=[
                {"Id": f"p{i}", "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0}
                for i, m in enumerate(chunk)
            ],
        )


def peek_record(message: QueueMessage, *, full: bool, limit: int = 200) -> dict[str, Any]:
    body = message.body
    truncated = not full and len(body) > limit
    return {
        "message_id": message.message_id,
        "sent_at": message.sent_at,
        "receive_count": message.receive_count,
        "group_id": message.group_id,
        "dedup_id": message.dedup_id,
        "source_arn": message.source_arn,
        "message_attributes": {
            name: value.get("StringValue", "<binary>") for name, value in message.message_attributes.items()
        },
        "body": body[:limit] + "…" if truncated else body,
        "truncated": truncated,
    }
