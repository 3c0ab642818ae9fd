"""The native path: SQS's own message move task (StartMessageMoveTask / ListMessageMoveTasks / Cancel...).

SQS moves the messages server-side, keeping attributes and FIFO ids, at up to 500 messages/s. It only applies
to DLQs whose sources are SQS queues, takes no filter, and is missing on emulators (moto), so the decision of
when to use it lives in `native_unavailable_reason` and the API sits behind the `MoveTasks` protocol.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from picops.errors import Interrupted, OperationFailed, UsageError, input_field

MAX_NATIVE_RATE = 500
_DONE = frozenset({"COMPLETED", "CANCELLED", "FAILED"})


@dataclass(frozen=True)
class MoveTaskStatus:
    task_handle: str | None
    status: str
    moved: int
    to_move: int | None
    failure_reason: str | None = None

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> MoveTaskStatus:
        to_move = raw.get("ApproximateNumberOfMessagesToMove")
        return cls(
            task_handle=raw.get("TaskHandle"),
            status=str(raw.get("Status", "UNKNOWN")),
            moved=int(raw.get("ApproximateNumberOfMessagesMoved", 0)),
            to_move=int(to_move) if to_move is not None else None,
            failure_reason=raw.get("FailureReason"),
        )


class MoveTasks(Protocol):
    def start(self, source_arn: str, destination_arn: str | None, rate: int | None) -> str: ...
    def latest(self, source_arn: str) -> MoveTaskStatus | None: ...
    def cancel(self, task_handle: str) -> int: ...


class SqsMoveTasks:
    """`MoveTasks` on a real SQS client."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs

    def start(self, source_arn: str, destination_arn: str | None, rate: int | None) -> str:
        params: dict[str, Any] = {"SourceArn": source_arn}
        if destination_arn:
            params["DestinationArn"] = destination_arn
        if rate:
            params["MaxNumberOfMessagesPerSecond"] = rate
        return str(self.sqs.start_message_move_task(**params)["TaskHandle"])

    def latest(self, source_arn: str) -> MoveTaskStatus | None:
        results = self.sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=1).get("Results", [])
        return MoveTaskStatus.from_api(results[0]) if results else None

    def cancel(self, task_handle: str) -> int:
        response = self.sqs.cancel_message_move_task(TaskHandle=task_handle)
        return int(response.get("ApproximateNumberOfMessagesMoved", 0))


def native_unavailable_reason(
    *,
    native: bool,
    is_local: bool,
    has_filter: bool,
    has_max: bool,
    has_archive: bool,
    to_elsewhere: bool,
    sqs_sources: int,
) -> str | None:
    """Why the native path cannot serve this redrive (None: it can)."""
    if not native:
        return "--no-native"
    if is_local:
        return "the local endpoint has no message move task API"
    if has_filter:
        return "--filter needs to read each message"
    if has_max:
        return "--max needs to count each message"
    if has_archive:
        return "--archive needs to read each message"
    if to_elsewhere:
        return "--to names a queue other than the DLQ's source"
    if sqs_sources == 0:
        return "the DLQ is not fed by SQS queues (SNS or Lambda DLQs need the manual path)"
    return None


def validate_native_rate(rate: float | None) -> int | None:
    if rate is None:
        return None
    if rate < 1 or rate > MAX_NATIVE_RATE or rate != int(rate):
        raise UsageError(
            f"{input_field('rate')} must be a whole number from 1 to {MAX_NATIVE_RATE} on the native path"
        )
    return int(rate)


def run_move_task(
    tasks: MoveTasks,
    source_arn: str,
    destination_arn: str | None,
    *,
    rate: int | None = None,
    poll_s: float = 2.0,
    stop: threading.Event | None = None,
    on_progress: Callable[[MoveTaskStatus], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> MoveTaskStatus:
    """Start a move task and follow it until it ends. A set `stop` event or Ctrl-C cancels the task (what is
    already moved stays moved) and raises Interrupted (exit 130). A FAILED task raises OperationFailed."""
    stop = stop or threading.Event()
    handle = tasks.start(source_arn, destination_arn, rate)
    try:
        while True:
            status = tasks.latest(source_arn)
            if status is not None and status.task_handle not in (None, handle):
                status = None  # another task's record: ours has not shown up yet
            if status is not None:
                if on_progress is not None:
                    on_progress(status)
                if status.status in _DONE:
                    if status.status == "FAILED":
                        raise OperationFailed(
                            f"the message move task failed after moving {status.moved}: "
                            f"{status.failure_reason or 'no reason given'}"
                        )
                    return status
            if stop.is_set():
                raise KeyboardInterrupt
            sleep(poll_s)
    except KeyboardInterrupt:
        moved = tasks.cancel(handle)
        raise Interrupted(
            f"cancelled the message move task after about {moved} messages; the rest stay in the DLQ"
        ) from None
