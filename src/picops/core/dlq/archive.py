"""The JSONL archive: every message a redrive or purge takes off a queue, on disk before it leaves the queue.

A redrive appends the batch it is about to send, flushes and fsyncs, and only then sends and deletes; a purge
with an archive appends before it deletes. So the archive always holds a superset of what left the queue, and
`dlq replay` can put any of it back, with body, message attributes and FIFO group/deduplication ids.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from picops.core.dlq.messages import QueueMessage
from picops.core.dlq.sender import send_confirmed
from picops.errors import UsageError, ValidationFailed


class ArchiveWriter:
    """Append-only JSONL writer; `append` returns only once the lines are on stable storage."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.exists() and path.is_dir():
            raise UsageError(f"archive {path} is a directory")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _drop_torn_tail(path)
            # Append, never truncate: re-running into the same file keeps the earlier records.
            self._file = path.open("a", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot open archive {path}: {exc.strerror or exc}") from None
        self.written = 0

    def append(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        self._file.write(
            "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
        )
        self._file.flush()
        os.fsync(self._file.fileno())
        self.written += len(records)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _drop_torn_tail(path: Path) -> None:
    """A crash mid-append leaves a last line without its newline. That append never returned, so its
    batch was never sent: cut it off, or the next record would be glued onto it."""
    if not path.is_file():
        return
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        # Find the last newline by scanning back in blocks.
        end = size
        while end > 0:
            start = max(0, end - 65536)
            handle.seek(start)
            block = handle.read(end - start)
            cut = block.rfind(b"\n")
            if cut >= 0:
                handle.truncate(start + cut + 1)
                break
            end = start
        else:
            handle.truncate(0)
        handle.flush()
        os.fsync(handle.fileno())


@dataclass(frozen=True)
class ArchivedMessage:
    line: int
    message: QueueMessage
    queue_arn: str | None


def read_archive(path: Path) -> Iterator[ArchivedMessage]:
    """Records of an archive, validated line by line (exit 2 naming the line when one is malformed).
    A torn last line (a crash mid-write, before fsync returned) is not an archived message: skip it."""
    if not path.is_file():
        raise UsageError(f"archive {path} does not exist or is not a file")
    with path.open(encoding="utf-8") as handle:
        lines = handle.readlines()
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except ValueError:
            if number == len(lines) and not text.endswith("\n"):
                return
            raise ValidationFailed(f"{path}:{number}: not a JSON object") from None
        if not isinstance(record, dict):
            raise ValidationFailed(f"{path}:{number}: not a JSON object")
        try:
            message = QueueMessage.from_record(record)
        except ValidationFailed as exc:
            raise ValidationFailed(f"{path}:{number}: {exc.message}") from None
        arn = record.get("queue_arn")
        yield ArchivedMessage(line=number, message=message, queue_arn=str(arn) if arn else None)


@dataclass
class ReplayResult:
    archive: str
    destination: str
    total: int = 0
    sent: int = 0
    failed: int = 0
    dry_run: bool = False
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "archive": self.archive,
            "destination": self.destination,
            "total": self.total,
            "sent": self.sent,
            "failed": self.failed,
            "dry_run": self.dry_run,
            "errors": self.errors,
        }


def replay(
    sqs: Any,
    path: Path,
    *,
    destination_url: str,
    destination_arn: str,
    fifo: bool,
    dry_run: bool = False,
    chunk: int = 100,
) -> ReplayResult:
    """Re-send every archived message to the destination, streaming the file in chunks.

    FIFO messages keep their archived deduplication id, so replaying the same archive twice within SQS's
    5-minute window does not duplicate. Messages without a group id cannot go to a FIFO queue: exit 2 before
    sending anything."""
    result = ReplayResult(archive=str(path), destination=destination_arn, dry_run=dry_run)
    items = list(read_archive(path))
    messages = [item.message for item in items]
    from_fifo = [i.message.message_id for i in items if i.queue_arn and i.queue_arn.endswith(".fifo")]
    if from_fifo and not fifo:
        raise UsageError(
            f"{len(from_fifo)} archived message(s) came from a FIFO queue (e.g. {from_fifo[0]}) but the "
            "destination is a standard queue: their group and deduplication ids have nowhere to go",
            hint="replay them into a FIFO queue",
        )
    if fifo:
        lacking = [m.message_id for m in messages if not m.group_id]
        if lacking:
            raise UsageError(
                f"{len(lacking)} archived message(s) have no MessageGroupId (e.g. {lacking[0]}): they came "
                "from a standard queue and cannot be replayed into a FIFO queue"
            )
    result.total = len(messages)
    if dry_run:
        return result
    for start in range(0, len(messages), chunk):
        outcome = send_confirmed(sqs, destination_url, messages[start : start + chunk], fifo=fifo)
        result.sent += len(outcome.sent)
        result.failed += len(outcome.failed)
        result.errors.extend(
            {"message_id": m.message_id, "code": code, "message": text} for m, code, text in outcome.failed
        )
    return result
