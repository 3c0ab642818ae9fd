"""Empty a queue: PurgeQueue, or, with an archive, receive -> archive (fsynced) -> delete, so nothing
leaves the queue without being on disk first."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picops.core.dlq.archive import ArchiveWriter
from picops.core.dlq.messages import SYSTEM_ATTRIBUTES, QueueMessage
from picops.core.dlq.queues import QueueRef, refresh


@dataclass
class PurgeResult:
    queue: str
    mode: str  # purge_queue | archive_delete
    purged: int
    archive: str | None
    interrupted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "mode": self.mode,
            "purged": self.purged,
            "archive": self.archive,
            "interrupted": self.interrupted,
        }


def purge(
    sqs: Any,
    queue: QueueRef,
    *,
    archive: Path | None = None,
    wait_seconds: int = 1,
    empty_polls: int = 3,
    stop: threading.Event | None = None,
) -> PurgeResult:
    if archive is None:
        # PurgeQueue is asynchronous (up to 60 s) and says nothing about counts: report what was there.
        before = refresh(sqs, queue)
        sqs.purge_queue(QueueUrl=queue.url)
        return PurgeResult(queue.arn, "purge_queue", before.visible + before.in_flight, None)
    stop = stop or threading.Event()
    result = PurgeResult(queue.arn, "archive_delete", 0, str(archive))
    empty = 0
    with ArchiveWriter(archive) as writer:
        while not stop.is_set():
            params: dict[str, Any] = {
                "QueueUrl": queue.url,
                "MaxNumberOfMessages": 10,
                "WaitTimeSeconds": wait_seconds,
                "VisibilityTimeout": 60,
                "MessageAttributeNames": ["All"],
                "MessageSystemAttributeNames": list(SYSTEM_ATTRIBUTES),
            }
            messages = [
                QueueMessage.from_sqs(raw) for raw in sqs.receive_message(**params).get("Messages", [])
            ]
            if not messages:
                empty += 1
                # Several empty polls and a count of 0; or, if the count never drops (FIFO groups held by
                # another consumer), give up after four times as many polls rather than spin.
                if empty >= empty_polls and (refresh(sqs, queue).visible == 0 or empty >= empty_polls * 4):
                    break
                continue
            empty = 0
            writer.append([m.to_record(queue_arn=queue.arn, action="purge") for m in messages])
            response = sqs.delete_message_batch(
                QueueUrl=queue.url,
                Entries=[{"Id": f"d{i}", "ReceiptHandle": m.receipt_handle} for i, m in enumerate(messages)],
            )
            result.purged += len(response.get("Successful", []))
        result.interrupted = stop.is_set()
    return result
