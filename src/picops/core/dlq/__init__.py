"""Dead-letter queues: find them, look inside, move their messages back without losing one.

The public API of the wing; the CLI and the demo import from here, not from the inner modules.
Redrive has two paths: the manual one (receive, archive with fsync, send, delete only what SQS confirmed)
and SQS's native message move task where it can serve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from picops import lazy

if TYPE_CHECKING:
    from picops.core.dlq.archive import replay as replay_archive
    from picops.core.dlq.peek import peek as peek_messages
    from picops.core.dlq.peek import peek_record
    from picops.core.dlq.purge import purge as purge_queue
    from picops.core.dlq.queues import (
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
        native_redrive,
    )
    from picops.core.dlq.redrive_plan import RedrivePlan, arn_resolver, plan_redrive

# name -> (the module that defines it, its name there); only what other layers use is exported
_HOMES: lazy.Homes = {
    "arn_resolver": ("picops.core.dlq.redrive_plan", "arn_resolver"),
    "compile_filter": ("picops.core.dlq.redrive", "compile_filter"),
    "dlq_info": ("picops.core.dlq.queues", "dlq_info"),
    "ManualRedrive": ("picops.core.dlq.redrive", "ManualRedrive"),
    "native_redrive": ("picops.core.dlq.redrive", "native_redrive"),
    "peek_messages": ("picops.core.dlq.peek", "peek"),
    "peek_record": ("picops.core.dlq.peek", "peek_record"),
    "plan_redrive": ("picops.core.dlq.redrive_plan", "plan_redrive"),
    "purge_queue": ("picops.core.dlq.purge", "purge"),
    "RedriveInterrupted": ("picops.core.dlq.redrive", "RedriveInterrupted"),
    "RedriveOptions": ("picops.core.dlq.redrive", "RedriveOptions"),
    "RedrivePlan": ("picops.core.dlq.redrive_plan", "RedrivePlan"),
    "RedriveStats": ("picops.core.dlq.redrive", "RedriveStats"),
    "refresh": ("picops.core.dlq.queues", "refresh"),
    "region_dlqs": ("picops.core.dlq.queues", "region_dlqs"),
    "replay_archive": ("picops.core.dlq.archive", "replay"),
    "resolve_queue": ("picops.core.dlq.queues", "resolve_queue"),
    "Router": ("picops.core.dlq.redrive", "Router"),
    "source_queues": ("picops.core.dlq.queues", "source_queues"),
    "stack_dlqs": ("picops.core.dlq.queues", "stack_dlqs"),
}


__getattr__ = lazy.exports(__name__, _HOMES)


__all__ = [
    "ManualRedrive",
    "RedriveInterrupted",
    "RedriveOptions",
    "RedrivePlan",
    "RedriveStats",
    "Router",
    "arn_resolver",
    "compile_filter",
    "dlq_info",
    "native_redrive",
    "peek_messages",
    "peek_record",
    "plan_redrive",
    "purge_queue",
    "refresh",
    "region_dlqs",
    "replay_archive",
    "resolve_queue",
    "source_queues",
    "stack_dlqs",
]
