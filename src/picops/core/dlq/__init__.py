"""Dead-letter queues: find them, look inside, move their messages back without losing one.

The public API of the wing; the CLI and the demo import from here, not from the inner modules.
Redrive has two paths: the manual one (receive, archive with fsync, send, delete only what SQS confirmed)
and SQS's native message move task where it can serve.
"""

from picops.core.dlq.archive import ArchivedMessage, ArchiveWriter, ReplayResult, read_archive
from picops.core.dlq.archive import replay as replay_archive
from picops.core.dlq.messages import (
    MAX_BATCH_BYTES,
    MAX_BATCH_ENTRIES,
    SYSTEM_ATTRIBUTES,
    QueueMessage,
    pack_batches,
)
from picops.core.dlq.move_task import (
    MAX_NATIVE_RATE,
    MoveTasks,
    MoveTaskStatus,
    SqsMoveTasks,
    native_unavailable_reason,
    run_move_task,
    validate_native_rate,
)
from picops.core.dlq.peek import peek as peek_messages
from picops.core.dlq.peek import peek_record
from picops.core.dlq.purge import PurgeResult
from picops.core.dlq.purge import purge as purge_queue
from picops.core.dlq.queues import (
    DlqInfo,
    QueueRef,
    SourceInfo,
    check_same_kind,
    dlq_info,
    refresh,
    region_dlqs,
    resolve_queue,
    source_queues,
    stack_dlqs,
)
from picops.core.dlq.redrive import (
    ManualRedrive,
    RedriveInterrupted,
    RedriveOptions,
    RedriveStats,
    Router,
    compile_filter,
    matches,
    native_redrive,
)
from picops.core.dlq.redrive_plan import RedrivePlan, arn_resolver, plan_redrive
from picops.core.dlq.sender import SendOutcome, send_confirmed

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_ENTRIES",
    "MAX_NATIVE_RATE",
    "SYSTEM_ATTRIBUTES",
    "ArchiveWriter",
    "ArchivedMessage",
    "DlqInfo",
    "ManualRedrive",
    "MoveTaskStatus",
    "MoveTasks",
    "PurgeResult",
    "QueueMessage",
    "QueueRef",
    "RedriveInterrupted",
    "RedriveOptions",
    "RedrivePlan",
    "RedriveStats",
    "ReplayResult",
    "Router",
    "SendOutcome",
    "SourceInfo",
    "SqsMoveTasks",
    "arn_resolver",
    "check_same_kind",
    "compile_filter",
    "dlq_info",
    "matches",
    "native_redrive",
    "native_unavailable_reason",
    "pack_batches",
    "peek_messages",
    "peek_record",
    "plan_redrive",
    "purge_queue",
    "read_archive",
    "refresh",
    "region_dlqs",
    "replay_archive",
    "resolve_queue",
    "run_move_task",
    "send_confirmed",
    "source_queues",
    "stack_dlqs",
    "validate_native_rate",
]
