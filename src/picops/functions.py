"""The stack's functions, in one table (docs/architecture.md, "Where things go: a function").

Each `FunctionDef` says everything about a function that is not a resource's detail: its logical name and
handler entry point (both contracts, pinned by tests), the configuration sections its environment carries,
the timeout and memory that fit its job, and what its Errors alarm tells the operator to look at next. The
model, config (`FUNCTION_LOGICAL_NAMES`), names, IAM grants (`stack/iam.py`, one grant function per entry,
looked up by logical name) and the operations builder all read this table, so adding a function is one entry
here plus its grants and its handler.

Pure data with no imports of picops: config.py (loaded at every Lambda cold start) reads it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FunctionDef:
    # Logical name (contract): the model, `picops logs <name>`, `[deploy.functions.<name>]`.
    logical: str
    # Lambda handler entry point (contract), "module.function".
    handler: str
    # Physical name is `<stack>-<suffix>`.
    name_suffix: str
    # Configuration sections (besides [stack]) the handler reads; each goes whole into its environment, so a
    # setting added to a section reaches the deployed handler without anyone remembering to wire it.
    sections: tuple[str, ...]
    # Defaults that fit the job. `[deploy] timeout_s` / `memory_mb`, when set explicitly, apply to every
    # function; `[deploy.functions.<logical>]` beats both.
    timeout_s: int
    memory_mb: int
    # The Errors alarm's "what next", after "First: picops logs <logical> --since 15m; ".
    errors_next: str


_FIFO_BLOCKS = "FIFO: a failing message blocks its message group until it succeeds or reaches "

FUNCTIONS: tuple[FunctionDef, ...] = (
    FunctionDef(
        "IngestFunction",
        "picops.handlers.ingest.handler",
        "ingest",
        ("ingest",),
        # A batch of photos, each fetched, decoded, thumbnailed and written (Pillow wants memory, and Lambda
        # gives CPU in proportion to it).
        timeout_s=120,
        memory_mb=1024,
        errors_next="then picops ingest failures (records that failed, with the error)",
    ),
    FunctionDef(
        "ModerationStreamFunction",
        "picops.handlers.moderation.stream_handler",
        "moderation-stream",
        ("ingest", "moderation"),
        # One tagging call per record; bounded retries and bisecting keep a slow batch short.
        timeout_s=60,
        memory_mb=256,
        errors_next="failed stream batches also reach AlertsTopic with their shard and sequence numbers; the "
        "hourly sweep repairs the tags they missed",
    ),
    FunctionDef(
        "ModerationSweepFunction",
        "picops.handlers.moderation.sweep_handler",
        "moderation-sweep",
        ("ingest", "moderation"),
        # The hourly sweep works until `sweep_margin_s` before its timeout: give it minutes, not seconds.
        timeout_s=600,
        memory_mb=512,
        errors_next="the next hourly run resumes from the saved continuation point",
    ),
    FunctionDef(
        "BookingApiFunction",
        "picops.handlers.bookings.api_handler",
        "booking-api",
        ("bookings",),
        # Behind API Gateway, whose HTTP API integrations give up after 30 s.
        timeout_s=10,
        memory_mb=256,
        errors_next="the API answered 5xx for these requests (see the dashboard's BookingsApi 5xx)",
    ),
    FunctionDef(
        "InventoryFunction",
        "picops.handlers.bookings.inventory_handler",
        "inventory",
        ("bookings",),
        timeout_s=30,
        memory_mb=256,
        errors_next=_FIFO_BLOCKS + "InventoryDLQ",
    ),
    FunctionDef(
        "PaymentFunction",
        "picops.handlers.bookings.payment_handler",
        "payment",
        ("bookings",),
        timeout_s=30,
        memory_mb=256,
        errors_next=_FIFO_BLOCKS + "PaymentDLQ",
    ),
    FunctionDef(
        "OutboxSweepFunction",
        "picops.handlers.repairs.outbox_handler",
        "outbox-sweep",
        ("bookings",),
        # One scan of the bookings table and a publish per lost booking: seconds, unless thousands were lost.
        timeout_s=120,
        memory_mb=256,
        errors_next="the bookings it could not publish stay pending for the next run (picops bookings "
        "republish --dry-run lists them)",
    ),
    FunctionDef(
        "DlqRedriveFunction",
        "picops.handlers.repairs.redrive_handler",
        "dlq-redrive",
        # Each schedule's input names the DLQ, its source, its alarm and the run's caps: no section needed.
        (),
        # A run moves at most `redrive_max` messages at `redrive_rate` per second; it stops a minute before
        # the timeout and the next run goes on.
        timeout_s=900,
        memory_mb=256,
        errors_next="the messages it did not move stay in the DLQ (picops dlq list shows them)",
    ),
)

BY_LOGICAL: dict[str, FunctionDef] = {f.logical: f for f in FUNCTIONS}
LOGICAL_NAMES: tuple[str, ...] = tuple(BY_LOGICAL)


def function_def(logical: str) -> FunctionDef:
    """The table entry of `logical` (KeyError naming the known functions when there is none)."""
    try:
        return BY_LOGICAL[logical]
    except KeyError:
        raise KeyError(f"no function {logical!r} (expected one of {', '.join(LOGICAL_NAMES)})") from None


__all__ = ["BY_LOGICAL", "FUNCTIONS", "LOGICAL_NAMES", "FunctionDef", "function_def"]
