"""The JSONL archive: every message a redrive or purge takes off a queue, on disk before it leaves the queue.

A redrive appends the batch it is about to send, flushes and fsyncs, and only then sends and deletes; a purge
with an archive appends before it deletes. So the archive always holds a superset of what left the queue, and
`dlq replay` can put any of it back, with body, message attributes and FIFO group/deduplication ids.
"""

from __future__ import annotations

import itertools
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
    # One line at a time: an archive can be far larger than memory.
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except ValueError:
                # Only the last line can lack its newline: that is a torn write, not a record.
                if not text.endswith("\n"):
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

    The archive is read twice, one line at a time, and never held in memory: a first pass validates every
    line and the FIFO/standard rules (so a bad line or a mismatch exits 2 before anything is sent), a second
    sends `chunk` messages at a time. FIFO messages keep their archived deduplication id, so replaying the
    same archive twice within SQS's 5-minute window does not duplicate. Messages without a group id cannot
    go to a FIFO queue: exit 2 before sending anything."""
    result = ReplayResult(archive=str(path), destination=destination_arn, dry_run=dry_run)
    total = 0
    # Counts and the first offender only: constant memory however long the archive.
    from_fifo_count, first_from_fifo = 0, ""
    lacking_count, first_lacking = 0, ""
    for item in read_archive(path):
        total += 1
        if item.queue_arn and item.queue_arn.endswith(".fifo"):
            from_fifo_count += 1
            first_from_fifo = first_from_fifo or item.message.message_id
        if not item.message.group_id:
            lacking_count += 1
            first_lacking = first_lacking or item.message.message_id
    if from_fifo_count and not fifo:
        raise UsageError(
            f"{from_fifo_count} archived message(s) came from a FIFO queue (e.g. {first_from_fifo}) but the "
            "destination is a standard queue: their group and deduplication ids have nowhere to go",
            hint="replay them into a FIFO queue",
        )
    if fifo and lacking_count:
        raise UsageError(
            f"{lacking_count} archived message(s) have no MessageGroupId (e.g. {first_lacking}): they came "
            "from a standard queue and cannot be replayed into a FIFO queue"
        )
    result.total = total
    if dry_run:
        return result
    # The records validated above, and no more (a redrive may be appending to the same file meanwhile).
    messages = (item.message for item in itertools.islice(read_archive(path), total))
    while batch := list(itertools.islice(messages, chunk)):
        outcome = send_confirmed(sqs, destination_url, batch, fifo=fifo)
        result.sent += len(outcome.sent)
        result.failed += len(outcome.failed)
        result.errors.extend(
            {"message_id": m.message_id, "code": code, "message": text} for m, code, text in outcome.failed
        )
    return result
