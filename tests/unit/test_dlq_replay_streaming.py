"""`dlq replay` streams the archive: it is read one line at a time (never whole) and sending starts before the
second pass has read past the first chunk; peak memory stays flat however large the archive."""

from __future__ import annotations

import gc
import json
import tracemalloc
from pathlib import Path
from typing import IO, Any

import pytest

from picops.core.dlq import replay_archive
from picops.core.dlq.archive import read_archive
from picops.core.dlq.messages import QueueMessage
from picops.errors import UsageError

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:src"


def _write_archive(path: Path, count: int, body_size: int = 200, *, fifo: bool = False) -> None:
    arn = QUEUE_ARN + (".fifo" if fifo else "")
    with path.open("w", encoding="utf-8") as handle:
        for i in range(count):
            attributes = {"MessageGroupId": "g", "MessageDeduplicationId": f"d{i}"} if fifo else {}
            message = QueueMessage(
                message_id=f"m{i}", body=f"{i:08d}" + "x" * body_size, attributes=attributes
            )
            handle.write(json.dumps(message.to_record(queue_arn=arn, action="redrive")) + "\n")


class _CountingFile:
    """Wraps the archive's file handle: counts lines handed out, refuses whole-file reads."""

    def __init__(self, inner: IO[str], log: list[int]) -> None:
        self.inner = inner
        self.log = log
        log.append(0)

    def __iter__(self) -> _CountingFile:
        return self

    def __next__(self) -> str:
        line = next(self.inner)
        self.log[-1] += 1
        return line

    def read(self, *args: Any) -> str:
        raise AssertionError("the archive was read whole")

    def readlines(self, *args: Any) -> list[str]:
        raise AssertionError("the archive was read whole")

    def __enter__(self) -> _CountingFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.inner.close()


class _CountingPath(type(Path())):  # type: ignore[misc]
    opened: list[int]

    def open(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return _CountingFile(super().open(*args, **kwargs), self.opened)


class _FakeSqs:
    """Accepts every entry; records how far the reader had got at each send."""

    def __init__(self, lines_read: list[int]) -> None:
        self.lines_read = lines_read
        self.sends: list[tuple[int, int]] = []  # (pass number, lines read in that pass) per request
        self.bodies: list[str] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.sends.append((len(self.lines_read), self.lines_read[-1]))
        self.bodies.extend(e["MessageBody"] for e in Entries)
        return {"Successful": [{"Id": e["Id"], "MessageId": e["Id"]} for e in Entries], "Failed": []}


def test_replay_reads_line_by_line_and_sends_before_reading_the_rest(tmp_path: Path) -> None:
    count, chunk = 1_000, 50
    _write_archive(tmp_path / "a.jsonl", count)
    path = _CountingPath(tmp_path / "a.jsonl")
    path.opened = []
    sqs = _FakeSqs(path.opened)
    result = replay_archive(
        sqs, path, destination_url="https://q", destination_arn="arn:q", fifo=False, chunk=chunk
    )
    assert (result.total, result.sent, result.failed) == (count, count, 0)
    assert [b[:8] for b in sqs.bodies] == [f"{i:08d}" for i in range(count)]  # all, in order
    assert len(path.opened) == 2  # a validating pass, then the sending pass
    first_pass, first_send = sqs.sends[0]
    assert first_pass == 2
    # The first batch left while the sending pass had read one chunk (plus the line that ended it).
    assert first_send <= chunk + 1
    assert path.opened == [count, count]


def test_read_archive_is_lazy(tmp_path: Path) -> None:
    _write_archive(tmp_path / "a.jsonl", 500)
    path = _CountingPath(tmp_path / "a.jsonl")
    path.opened = []
    records = read_archive(path)
    assert path.opened == []  # nothing read until asked
    next(records)
    assert path.opened == [1]
    records.close()


def test_replay_memory_does_not_grow_with_the_archive(tmp_path: Path) -> None:
    def peak(count: int) -> int:
        archive = tmp_path / f"a{count}.jsonl"
        _write_archive(archive, count, body_size=2_000)

        class Sink:
            def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
                return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}

        gc.collect()
        tracemalloc.start()
        try:
            result = replay_archive(
                Sink(), archive, destination_url="https://q", destination_arn="arn:q", fifo=False
            )
            _, top = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert result.sent == count
        return top

    small, large = peak(500), peak(5_000)  # ~1 MB and ~10 MB of archive
    assert large < 2 * small + 256 * 1024, (small, large)
    assert large < 5 * 1024 * 1024  # far below the 10 MB file


def test_a_mismatch_found_late_still_sends_nothing(tmp_path: Path) -> None:
    archive = tmp_path / "a.jsonl"
    _write_archive(archive, 300)
    with archive.open("a", encoding="utf-8") as handle:  # one FIFO record at the very end
        record = QueueMessage(message_id="late", body="b", attributes={"MessageGroupId": "g"}).to_record(
            queue_arn=QUEUE_ARN + ".fifo", action="redrive"
        )
        handle.write(json.dumps(record) + "\n")
    sqs = _FakeSqs([0])
    with pytest.raises(UsageError, match="came from a FIFO queue"):
        replay_archive(sqs, archive, destination_url="https://q", destination_arn="arn:q", fifo=False)
    assert sqs.sends == []
