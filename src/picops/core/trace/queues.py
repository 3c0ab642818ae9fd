"""Messages still waiting in the stack's queues and DLQs that mention the traced thing (docs/operating.md,
"Tracing one booking or one object").

Each queue is read with the DLQ peek (`core.dlq.peek`): received, then made visible again at once, so nothing
is consumed; each peek adds one to a message's receive count, as `dlq peek` does. A message mentions the
thing when one of the needles is in its body or its message attributes: a booking's id, or an object's key
as written and as S3's event notifications encode it (URL-encoded, spaces as `+`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

import botocore.exceptions

from picops.aws_errors import code_of
from picops.core.dlq.messages import QueueMessage
from picops.core.dlq.peek import peek
from picops.core.dlq.queues import describe_queue, queue_url_for
from picops.core.trace.timeline import Entry
from picops.errors import PicopsError
from picops.stack.names import StackNames

# The queues that carry each kind of traced thing, and their dead-letter queues.
BOOKING_QUEUES = ("InventoryQueue", "PaymentQueue", "InventoryDLQ", "PaymentDLQ")
OBJECT_QUEUES = ("IngestQueue", "IngestDLQ")
# At most this many messages are read from each queue; a deeper queue is reported as a gap.
PEEK_LIMIT = 100


@dataclass(frozen=True)
class TracedQueue:
    logical: str
    url: str
    # A dead-letter queue: its messages are the ones a consumer gave up on.
    dlq: bool


def stack_queues(
    sqs: object, names: StackNames, logicals: Iterable[str]
) -> tuple[list[TracedQueue], list[str]]:
    """The stack's queues among `logicals`, and a gap line for each that could not be found."""
    found: list[TracedQueue] = []
    gaps: list[str] = []
    for logical in logicals:
        try:
            url, _ = queue_url_for(sqs, logical, names)
        except (botocore.exceptions.ClientError, PicopsError) as exc:
            gaps.append(f"{logical}: not read ({_why(exc)})")
            continue
        found.append(TracedQueue(logical, url, dlq=logical.endswith("DLQ")))
    return found, gaps


def _why(exc: Exception) -> str:
    return code_of(exc) if isinstance(exc, botocore.exceptions.ClientError) else str(exc)


def object_needles(key: str) -> list[str]:
    """The ways an object's key appears in a message: as written, and URL-encoded as S3 events carry it."""
    return sorted({key, quote_plus(key, safe="/"), quote(key, safe="/")})


def _mentions(message: QueueMessage, needles: Iterable[str]) -> bool:
    texts = [message.body, *(str(v.get("StringValue", "")) for v in message.message_attributes.values())]
    return any(needle in text for needle in needles for text in texts)


def _entry(queue: TracedQueue, message: QueueMessage) -> Entry:
    count = message.receive_count
    # The peek itself is one of the receives.
    before = count - 1 if count else 0
    if queue.dlq:
        what = f"message in {queue.logical}: its consumer gave up after {before} receive(s)"
    else:
        what = f"message waiting in {queue.logical} ({before} earlier receive(s))"
    fields = {
        "message_id": message.message_id,
        "receive_count": before,
        **({"group_id": message.group_id} if message.group_id else {}),
    }
    sent = message.attributes.get("SentTimestamp", "")
    return Entry(int(sent) if sent.isdigit() else 0, queue.logical, what, fields)


def queue_entries(
    sqs: object, queues: list[TracedQueue], needles: list[str], *, limit: int = PEEK_LIMIT
) -> tuple[list[Entry], list[str]]:
    """Timeline entries for the messages of `queues` that mention any of `needles`, and the gaps: queues that
    could not be read, or held more than `limit` messages (only the first `limit` were looked at)."""
    entries: list[Entry] = []
    gaps: list[str] = []
    for queue in queues:
        try:
            ref = describe_queue(sqs, queue.url, logical=queue.logical)
            messages = peek(sqs, ref, limit, wait_seconds=0)
        except (botocore.exceptions.ClientError, PicopsError) as exc:
            gaps.append(f"{queue.logical}: not read ({_why(exc)})")
            continue
        entries += [_entry(queue, m) for m in messages if _mentions(m, needles)]
        if len(messages) >= limit:
            gaps.append(f"{queue.logical}: only its first {limit} messages were looked at")
    return entries, gaps
