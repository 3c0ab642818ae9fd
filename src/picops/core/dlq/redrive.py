"""The manual DLQ mover: receive, archive, send, delete-only-what-was-confirmed.

Per batch, in this order (the order is the crash-safety argument):
1. ReceiveMessage (up to 10, long poll, a visibility timeout covering the batch; FIFO receives carry a
   ReceiveRequestAttemptId so a retried receive returns the same messages instead of hiding them).
2. Filter and route. Misses, unroutable messages and (FIFO) anything queued behind them in its group are
   *held*: their visibility is extended so this run does not receive them again, and set back to 0 at the end.
3. Append the messages to move to the archive, flushed and fsynced.
4. SendMessageBatch keeping body, attributes and FIFO group/deduplication ids; retry `Failed` entries.
5. DeleteMessageBatch for exactly the entries the send confirmed.
A kill -9 between any two steps loses nothing: before 4 the messages reappear in the DLQ; between 4 and 5 one
batch exists in both queues (a FIFO destination drops the copy: the deduplication id is stable).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.exceptions
import jmespath  # type: ignore[import-untyped]
import jmespath.exceptions  # type: ignore[import-untyped]

from picops.aws_errors import code_of
from picops.core.dlq.archive import ArchiveWriter
from picops.core.dlq.messages import SYSTEM_ATTRIBUTES, QueueMessage
from picops.core.dlq.move_task import MoveTaskStatus, SqsMoveTasks, run_move_task, validate_native_rate
from picops.core.dlq.queues import QueueRef, refresh
from picops.core.dlq.redrive_plan import RedrivePlan
from picops.core.dlq.sender import send_confirmed
from picops.errors import Interrupted, UsageError, input_field
from picops.threads import ContextThreadPool

MAX_VISIBILITY_S = 43_200  # SQS's ceiling for a visibility timeout (12 hours)


def compile_filter(expression: str | None) -> Any:
    """A compiled JMESPath expression (exit 2 with the parser's message when it is not valid)."""
    if expression is None:
        return None
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise UsageError(
            f"{input_field('filter_expression')} {expression!r} is not a valid JMESPath expression: {exc}"
        ) from None


def matches(compiled: Any, message: QueueMessage) -> bool:
    if compiled is None:
        return True
    try:
        result = compiled.search(message.filter_document())
    except jmespath.exceptions.JMESPathError:
        return False  # e.g. a type error on this message's shape: not a match, left in place
    return result not in (None, False, "", [], {}, 0)


@dataclass(frozen=True)
class RedriveOptions:
    max_messages: int | None = None
    rate: float | None = None  # messages per second
    filter_expression: str | None = None
    archive: Path | None = None
    dry_run: bool = False
    visibility_timeout: int = 60  # covers one batch: archive + send + delete
    wait_seconds: int = 2  # long poll per receive
    empty_polls: int = 3  # consecutive empty long polls (and a count of 0) before calling the queue empty
    hold_seconds: int = 900  # how long held messages stay invisible between renewals
    # Three windows without the backlog shrinking: long enough that SQS's approximate counts catching up
    # after a burst do not look like a loop.
    loop_guard_window_s: float = 20.0
    loop_guard_strikes: int = 3
    loop_guard_min_moved: int = 10

    def validate(self) -> None:
        if self.max_messages is not None and self.max_messages < 1:
            raise UsageError(f"{input_field('max_messages')} must be at least 1")
        if self.rate is not None and self.rate <= 0:
            raise UsageError(f"{input_field('rate')} must be a positive number of messages per second")
        if not 0 <= self.visibility_timeout <= MAX_VISIBILITY_S:
            raise UsageError(
                f"{input_field('visibility_timeout')} must be between 0 and {MAX_VISIBILITY_S} seconds"
            )
        if not 0 <= self.wait_seconds <= 20:
            raise UsageError("the receive wait must be between 0 and 20 seconds")


@dataclass
class RedriveStats:
    source: str
    destination: str | None
    mode: str = "manual"
    moved: int = 0
    skipped: int = 0  # filter misses, left in the DLQ unchanged
    failed: int = 0  # sends SQS rejected or never confirmed, left in the DLQ
    unroutable: int = 0  # no destination (several sources, no DeadLetterQueueSourceArn, no --to)
    held_back: int = 0  # FIFO: behind a held message of the same group, left in place to keep order
    delete_failed: int = 0  # sent but not deleted: will be received again (a duplicate, never a loss)
    would_move: int = 0  # --dry-run
    archive: str | None = None
    dry_run: bool = False
    stopped: str = "empty"  # empty | max | interrupted | loop_guard | stalled | counted
    receives: int = 0
    requests: int = 0
    elapsed_s: float = 0.0
    destinations: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "mode": self.mode,
            "moved": self.moved,
            "skipped": self.skipped,
            "failed": self.failed,
            "archive": self.archive,
            "unroutable": self.unroutable,
            "held_back": self.held_back,
            "delete_failed": self.delete_failed,
            "would_move": self.would_move,
            "dry_run": self.dry_run,
            "stopped": self.stopped,
            "destinations": self.destinations,
            "requests": self.requests,
            "elapsed_s": round(self.elapsed_s, 3),
            "errors": self.errors[:50],
        }


class Router:
    """Where each message goes: `--to`, else the queue its DeadLetterQueueSourceArn names, else the only
    source. None when the DLQ has several sources and the message does not say which one it came from."""

    def __init__(
        self,
        dlq: QueueRef,
        to: QueueRef | None,
        sources: list[QueueRef],
        resolve_arn: Callable[[str], QueueRef | None],
    ) -> None:
        self.dlq = dlq
        self.to = to
        self.by_arn = {s.arn: s for s in sources}
        self.sources = sources
        self._resolve_arn = resolve_arn

    def route(self, message: QueueMessage) -> QueueRef | None:
        if self.to is not None:
            return self.to
        arn = message.source_arn
        if arn:
            if arn not in self.by_arn:
                found = self._resolve_arn(arn)
                if found is None or found.fifo != self.dlq.fifo:
                    return None
                self.by_arn[arn] = found
            return self.by_arn[arn]
        if len(self.sources) == 1:
            return self.sources[0]
        return None


class _Pacer:
    """Keeps the average rate at or under `rate` messages/s: sleeps before the next receive as needed."""

    def __init__(
        self,
        rate: float | None,
        sleep: Callable[[float], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.sleep = sleep
        self.clock = clock
        self.started = clock()

    def wait(self, done: int) -> None:
        if not self.rate:
            return
        due = self.started + done / self.rate
        delay = due - self.clock()
        if delay > 0:
            self.sleep(delay)

    def batch_size(self, remaining: int | None) -> int:
        size = 10
        if self.rate:
            size = max(1, min(size, int(self.rate)))
        if remaining is not None:
            size = min(size, remaining)
        return size


@dataclass
class _Held:
    receipt_handle: str
    message_id: str
    since: float


class ManualRedrive:
    """One manual redrive run (see the module docstring for the per-batch order)."""

    def __init__(
        self,
        sqs: Any,
        dlq: QueueRef,
        router: Router,
        options: RedriveOptions,
        *,
        stop: threading.Event | None = None,
        on_progress: Callable[[RedriveStats], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`sleep` and `clock` pace the run (tests pass a virtual pair, so rate tests never read the wall
        clock)."""
        options.validate()
        self.sqs = sqs
        self.dlq = dlq
        self.router = router
        self.options = options
        self.filter = compile_filter(options.filter_expression)
        self.stop = stop or threading.Event()
        self.on_progress = on_progress
        self.sleep = sleep
        self.clock = clock
        self.held: list[_Held] = []
        self.blocked_groups: set[str] = set()
        self._pool = None if dlq.fifo else ContextThreadPool(max_workers=1, thread_name_prefix="dlq-delete")
        self._pending_delete: Future[tuple[int, list[dict[str, str]]]] | None = None
        destination = (
            router.to.arn if router.to else (router.sources[0].arn if len(router.sources) == 1 else None)
        )
        self.stats = RedriveStats(
            source=dlq.arn,
            destination=destination,
            archive=str(options.archive) if options.archive else None,
            dry_run=options.dry_run,
        )

    # SQS calls ------------------------------------------------------------------------------------------
    def _receive(self, count: int) -> list[QueueMessage]:
        params: dict[str, Any] = {
            "QueueUrl": self.dlq.url,
            "MaxNumberOfMessages": count,
            "WaitTimeSeconds": self.options.wait_seconds,
            "VisibilityTimeout": self.options.visibility_timeout,
            "MessageAttributeNames": ["All"],
            "MessageSystemAttributeNames": list(SYSTEM_ATTRIBUTES),
        }
        if self.dlq.fifo:
            # botocore's retries resend the same id, so a receive whose answer was lost returns the same
            # messages again rather than leaving them invisible for the whole visibility timeout.
            params["ReceiveRequestAttemptId"] = uuid.uuid4().hex
        response = self.sqs.receive_message(**params)
        self.stats.requests += 1
        self.stats.receives += 1
        return [QueueMessage.from_sqs(raw) for raw in response.get("Messages", [])]

    def _change_visibility(self, handles: list[tuple[str, str]], seconds: int) -> None:
        for start in range(0, len(handles), 10):
            chunk = handles[start : start + 10]
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.dlq.url,
                Entries=[
                    {"Id": f"h{i}", "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                    for i, (handle, _mid) in enumerate(chunk)
                ],
            )
            self.stats.requests += 1

    def _hold(self, messages: list[QueueMessage]) -> None:
        if not messages:
            return
        now = time.monotonic()
        self._change_visibility(
            [(m.receipt_handle, m.message_id) for m in messages], self.options.hold_seconds
        )
        self.held.extend(_Held(m.receipt_handle, m.message_id, now) for m in messages)

    def _renew_holds(self) -> None:
        now = time.monotonic()
        stale = [h for h in self.held if now - h.since > self.options.hold_seconds / 2]
        if stale:
            self._change_visibility(
                [(h.receipt_handle, h.message_id) for h in stale], self.options.hold_seconds
            )
            for h in stale:
                h.since = now

    def release_held(self) -> None:
        """Make every held message visible again (the end of a run, however it ends)."""
        held, self.held = self.held, []
        if held:
            self._change_visibility([(h.receipt_handle, h.message_id) for h in held], 0)

    def _delete(self, messages: list[QueueMessage]) -> tuple[int, list[dict[str, str]]]:
        """DeleteMessageBatch for confirmed sends; returns (requests, failures). Touches no shared state:
        on standard DLQs it runs on the delete thread while the next batch is received."""
        requests = 0
        failures: list[dict[str, str]] = []
        for start in range(0, len(messages), 10):
            chunk = {f"d{i}": m for i, m in enumerate(messages[start : start + 10])}
            for attempt in range(3):
                if not chunk:
                    break
                if attempt:
                    self.sleep(0.2 * attempt)
                response = self.sqs.delete_message_batch(
                    QueueUrl=self.dlq.url,
                    Entries=[{"Id": k, "ReceiptHandle": m.receipt_handle} for k, m in chunk.items()],
                )
                requests += 1
                for ok in response.get("Successful", []):
                    chunk.pop(str(ok["Id"]), None)
                retry = {}
                for bad in response.get("Failed", []):
                    message = chunk.pop(str(bad["Id"]), None)
                    if message is not None and not bad.get("SenderFault"):
                        retry[str(bad["Id"])] = message
                    elif message is not None:
                        failures.append(_delete_failure(message, str(bad.get("Code", ""))))
                chunk = retry
            failures.extend(_delete_failure(message, "RetriesExhausted") for message in chunk.values())
        return requests, failures

    def _schedule_delete(self, messages: list[QueueMessage]) -> None:
        """Delete now (FIFO: the group stays locked until its messages are deleted, so the next receive
        needs them gone), or on the delete thread, overlapping the next receive (standard)."""
        self._flush_delete()
        if self._pool is None:
            self._merge_delete(self._delete(messages))
        elif messages:
            self._pending_delete = self._pool.submit(self._delete, messages)

    def _flush_delete(self) -> None:
        """Wait for the delete in flight. Called before every send, so at most one batch is ever sent and
        not yet deleted: the most a kill -9 can duplicate."""
        pending, self._pending_delete = self._pending_delete, None
        if pending is not None:
            self._merge_delete(pending.result())

    def _merge_delete(self, result: tuple[int, list[dict[str, str]]]) -> None:
        requests, failures = result
        self.stats.requests += requests
        # Sent but not deleted: the message will reappear in the DLQ, a duplicate, never a loss.
        self.stats.delete_failed += len(failures)
        self.stats.errors.extend(failures)

    # The loop -------------------------------------------------------------------------------------------
    def _classify(
        self, messages: list[QueueMessage]
    ) -> tuple[list[tuple[QueueMessage, QueueRef]], list[QueueMessage]]:
        moves: list[tuple[QueueMessage, QueueRef]] = []
        hold: list[QueueMessage] = []
        for message in messages:
            group = message.group_id if self.dlq.fifo else None
            if group is not None and group in self.blocked_groups:
                self.stats.held_back += 1
                hold.append(message)
                continue
            if not matches(self.filter, message):
                self.stats.skipped += 1
                hold.append(message)
            else:
                destination = self.router.route(message)
                if destination is None:
                    self.stats.unroutable += 1
                    self.stats.errors.append(
                        {"message_id": message.message_id, "stage": "route", "code": "NoDestination"}
                    )
                    hold.append(message)
                else:
                    moves.append((message, destination))
                    continue
            if group is not None:
                # Keep group order: nothing after a held message of this group moves in this run.
                self.blocked_groups.add(group)
        return moves, hold

    def _move(self, moves: list[tuple[QueueMessage, QueueRef]], archive: ArchiveWriter | None) -> None:
        if archive is not None:
            archive.append(
                [
                    m.to_record(queue_arn=self.dlq.arn, action="redrive", destination_arn=d.arn)
                    for m, d in moves
                ]
            )
        by_destination: dict[str, tuple[QueueRef, list[QueueMessage]]] = {}
        for message, destination in moves:
            by_destination.setdefault(destination.arn, (destination, []))[1].append(message)
        for destination, messages in by_destination.values():
            self._flush_delete()
            outcome = send_confirmed(
                self.sqs, destination.url, messages, fifo=destination.fifo, sleep=self.sleep
            )
            self.stats.requests += outcome.requests
            if outcome.failed:
                self.stats.failed += len(outcome.failed)
                for message, code, text in outcome.failed:
                    self.stats.errors.append(
                        {"message_id": message.message_id, "stage": "send", "code": code, "message": text}
                    )
                    if self.dlq.fifo and message.group_id:
                        self.blocked_groups.add(message.group_id)
                self._hold([m for m, _code, _text in outcome.failed])
            # Only what SQS confirmed leaves the DLQ.
            self._schedule_delete(outcome.sent)
            self.stats.moved += len(outcome.sent)
            self.stats.destinations[destination.arn] = self.stats.destinations.get(destination.arn, 0) + len(
                outcome.sent
            )

    def run(self) -> RedriveStats:
        began = time.monotonic()
        if self.options.dry_run and self.filter is None:
            # Nothing to evaluate per message: count without receiving (receiving bumps receive counts).
            current = refresh(self.sqs, self.dlq)
            self.stats.requests += 1
            cap = self.options.max_messages
            self.stats.would_move = current.visible if cap is None else min(cap, current.visible)
            self.stats.stopped = "counted"
            return self.stats
        archive = (
            ArchiveWriter(self.options.archive) if self.options.archive and not self.options.dry_run else None
        )
        pacer = _Pacer(self.options.rate, self.sleep, self.clock)
        guard = _LoopGuard(
            self.options.loop_guard_window_s,
            self.options.loop_guard_min_moved,
            self.options.loop_guard_strikes,
        )
        # The counts read when the DLQ was resolved are the guard's first mark (saves a request).
        guard.mark = (time.monotonic(), self.dlq.visible + self.dlq.in_flight, 0)
        empty = 0
        try:
            while True:
                if self.stop.is_set():
                    self.stats.stopped = "interrupted"
                    break
                done = self.stats.would_move if self.options.dry_run else self.stats.moved
                remaining = None if self.options.max_messages is None else self.options.max_messages - done
                if remaining is not None and remaining <= 0:
                    self.stats.stopped = "max"
                    break
                pacer.wait(done)
                self._renew_holds()
                messages = self._receive(pacer.batch_size(remaining))
                if not messages:
                    empty += 1
                    if empty >= self.options.empty_polls and self._looks_empty(empty):
                        break
                    continue
                empty = 0
                moves, hold = self._classify(messages)
                self._hold(hold)
                if self.options.dry_run:
                    self.stats.would_move += len(moves)
                    self._hold([m for m, _d in moves])
                elif moves:
                    self._move(moves, archive)
                if self.on_progress is not None:
                    self.on_progress(self.stats)
                if not self.options.dry_run and guard.tripped(self, time.monotonic()):
                    self.stats.stopped = "loop_guard"
                    break
        finally:
            try:
                self._flush_delete()
            finally:
                try:
                    self.release_held()
                finally:
                    if self._pool is not None:
                        self._pool.shutdown(wait=True)
                    if archive is not None:
                        archive.close()
                    self.stats.elapsed_s = time.monotonic() - began
        return self.stats

    def _looks_empty(self, empty: int) -> bool:
        """Several empty long polls are not enough on their own (SQS may answer empty while messages exist):
        the approximate visible count must be 0 too. On FIFO, groups behind held messages stay visible but
        cannot be received; and if the count never reaches 0, stop after four times the usual polls."""
        self._flush_delete()
        current = refresh(self.sqs, self.dlq)
        self.stats.requests += 1
        if current.visible == 0:
            self.stats.stopped = "empty"
            return True
        if self.dlq.fifo and self.blocked_groups:
            self.stats.stopped = "empty"
            return True
        if empty >= self.options.empty_polls * 4:
            self.stats.stopped = "stalled"
            return True
        return False


def _delete_failure(message: QueueMessage, code: str) -> dict[str, str]:
    return {"message_id": message.message_id, "stage": "delete", "code": code}


class _LoopGuard:
    """Trips when, over `strikes` windows in a row, the DLQ's backlog did not shrink though this run moved
    messages out of it: it refills at least as fast as it drains (e.g. redriving into a consumer that
    still fails), and going on would only cycle messages and burn their receive counts."""

    def __init__(self, window_s: float, min_moved: int, strikes: int = 3) -> None:
        self.window_s = window_s
        self.min_moved = min_moved
        self.needed = strikes
        self.mark: tuple[float, int, int] | None = None
        self.strikes = 0

    def tripped(self, run: ManualRedrive, now: float) -> bool:
        if self.mark is not None and now - self.mark[0] < self.window_s:
            return False
        run._flush_delete()  # counts must not include our own batch awaiting deletion
        current = refresh(run.sqs, run.dlq)
        run.stats.requests += 1
        backlog = current.visible + current.in_flight - len(run.held)
        if self.mark is None:
            self.mark = (now, backlog, run.stats.moved)
            return False
        _t0, backlog0, moved0 = self.mark
        drained = run.stats.moved - moved0
        if drained >= self.min_moved and backlog >= backlog0:
            self.strikes += 1
        else:
            self.strikes = 0
        self.mark = (now, backlog, run.stats.moved)
        return self.strikes >= self.needed


# What an endpoint without StartMessageMoveTask answers (emulators, some partitions): fall back to manual.
NO_MOVE_TASK_API = frozenset(
    {
        "InvalidAction",
        "UnsupportedOperation",
        "AWS.SimpleQueueService.UnsupportedOperation",
        "UnknownOperation",
    }
)


class RedriveInterrupted(Interrupted):
    """Ctrl-C stopped a native move task (cancelled); `stats` is what it had moved by then."""

    def __init__(self, message: str, stats: RedriveStats) -> None:
        super().__init__(message)
        self.stats = stats


def native_redrive(
    sqs: Any,
    plan: RedrivePlan,
    rate: float | None,
    *,
    dry_run: bool = False,
    on_progress: Callable[[MoveTaskStatus], None] | None = None,
    on_fallback: Callable[[str], None] = lambda reason: None,
) -> RedriveStats | None:
    """The native move task; None, after `on_fallback(reason)`, when the endpoint turns out not to offer
    it: nothing has moved then, and the caller runs the manual path instead."""
    native_rate = validate_native_rate(rate)
    stats = RedriveStats(
        source=plan.dlq.arn, destination=plan.destination_arn(), mode="native", dry_run=dry_run
    )
    if dry_run:
        stats.would_move = plan.dlq.visible
        stats.stopped = "counted"
        return stats
    destination = plan.destination_arn() if plan.to is not None else None
    try:
        final = run_move_task(
            SqsMoveTasks(sqs), plan.dlq.arn, destination, rate=native_rate, on_progress=on_progress
        )
    except botocore.exceptions.ClientError as exc:
        code = code_of(exc)
        if exc.operation_name == "StartMessageMoveTask" and code in NO_MOVE_TASK_API:
            on_fallback(f"this endpoint has no message move task API ({code})")
            return None
        raise
    except NotImplementedError:
        # moto's in-process mock raises this for the move-task APIs before anything has moved.
        on_fallback("this AWS emulator has no message move task API")
        return None
    except Interrupted as exc:
        stats.stopped = "interrupted"
        raise RedriveInterrupted(exc.message, stats) from None
    stats.moved = final.moved
    # CANCELLED here means someone else cancelled the task (our own Ctrl-C raised above).
    stats.stopped = "cancelled" if final.status == "CANCELLED" else "empty"
    return stats
