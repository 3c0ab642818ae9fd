"""Saved Logs Insights queries, one per on-call question, each over the log groups of the functions that can
answer it (docs/operating.md, "Saved queries"). They filter on the correlation ids every handler logs; the
upper-case placeholder (`PHOTO_KEY`, `BOOKING_ID`, `OBJECT_KEY`) is what the engineer replaces before
running one from the console's query list, where they appear under the folder `<stack>/`."""

from __future__ import annotations

from dataclasses import dataclass

from picops.functions import FUNCTIONS
from picops.stack.builders.context import BuildContext
from picops.stack.model import QueryDefinition, Resource

_HEAD = "fields @timestamp, @log, level, message"


@dataclass(frozen=True)
class SavedQuery:
    logical: str
    # After `<stack>/` in the console's list; a slash makes the stack a folder.
    title: str
    functions: tuple[str, ...]
    query: str


QUERIES = (
    SavedQuery(
        "PhotoNoThumbnailQuery",
        "why-has-photo-no-thumbnail",
        ("IngestFunction",),
        f"{_HEAD}, key, version_id, status, reason, error"
        ' | filter key = "PHOTO_KEY" | sort @timestamp asc | limit 1000',
    ),
    SavedQuery(
        "BookingHistoryQuery",
        "what-happened-to-booking",
        ("BookingApiFunction", "InventoryFunction", "PaymentFunction", "OutboxSweepFunction"),
        f"{_HEAD}, booking_id, event_id, seat_id, status, charged, error"
        ' | filter booking_id = "BOOKING_ID" | sort @timestamp asc | limit 1000',
    ),
    SavedQuery(
        "ObjectNotTaggedQuery",
        "why-is-object-not-tagged",
        ("ModerationStreamFunction", "ModerationSweepFunction"),
        f"{_HEAD}, key, version_id, verdict, tags, error"
        ' | filter key = "OBJECT_KEY" | sort @timestamp asc | limit 1000',
    ),
    SavedQuery(
        "StackErrorsQuery",
        "errors-across-the-stack",
        tuple(f.logical for f in FUNCTIONS),
        # Lambda's own lines (timeouts, init failures) are not JSON: they carry no level.
        f"{_HEAD}, error, @message"
        ' | filter level in ["ERROR", "CRITICAL"] or @message like /Task timed out|Runtime\\.\\w+Error/'
        " | sort @timestamp desc | limit 1000",
    ),
)


def query_name(stack: str, title: str) -> str:
    return f"{stack}/{title}"


def build(ctx: BuildContext) -> list[Resource]:
    stack = ctx.settings.stack.name
    return [
        QueryDefinition(
            saved.logical,
            query_name(stack, saved.title),
            query=saved.query,
            log_groups=tuple(f"{fn}LogGroup" for fn in saved.functions),
            log_group_names=tuple(f"/aws/lambda/{ctx.names.physical(fn)}" for fn in saved.functions),
        )
        for saved in QUERIES
    ]
