"""The tag ledger: which verdict picops last saw on which object identity, so sweeps can skip objects whose
tag is already right without a single S3 request.

Items live in JobsTable (picops's own table; ModerationTable may belong to the vendor) under their own
partition-key prefix, apart from the ingest pipeline's job items (`OBJ#...`) and records:

    pk = "LEDGER#<bucket>/<key>"   sk = "TAG"
    verdict, tag_key, etag, last_modified, writer, written_at

An object is skipped only when its entry's verdict equals the verdict in ModerationTable now, its tag key is
the configured one, and its ETag **and** LastModified equal what the listing (or inventory) says now: a
re-upload of the same bytes has the same ETag but a new LastModified (and no tags). Anything else goes
through the engine as before.

Entries are facts ("version E/T carried tag K=V"), written only after that was read or written on S3, so an
entry written by a run that is then killed is still true; nothing needs undoing on resume. Writes are queued
to one background thread and sent in BatchWriteItem batches of 25 (the rest when the run ends), off the tag
request's path; a failed
write is counted and dropped (the next sweep simply does that object's work again). Lookups that fail
degrade to "no entry" for that chunk: the ledger can only save work, never cause a wrong skip by failing.

What it cannot see: a tag changed by hand. `tag-backfill --verify` ignores the ledger, and the hourly
sweeper verifies a rotating slice of the bucket (`[moderation] verify_fraction`) each cycle.
"""

from __future__ import annotations

import hashlib
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import botocore.exceptions

from picops.aws_errors import SERVICE_MISSING, error_code, is_access_denied, is_missing
from picops.stack.state_objects import LEDGER_KEY_PREFIX, LEDGER_SORT_KEY
from picops.threads import context_thread

LEDGER_PREFIX = LEDGER_KEY_PREFIX
LEDGER_SK = LEDGER_SORT_KEY
BATCH_GET_SIZE = 100
BATCH_WRITE_SIZE = 25
MAX_UNPROCESSED_ROUNDS = 8
# Entries waiting for the writer thread. Beyond this the ledger drops entries rather than slow tagging down.
QUEUE_LIMIT = 20_000


def ledger_pk(bucket: str, key: str) -> str:
    return f"{LEDGER_PREFIX}{bucket}/{key}"


def normalise_etag(etag: Any) -> str | None:
    """ETags as S3 lists them (quoted) and as inventories write them (bare) compare equal."""
    if etag is None:
        return None
    text = str(etag).strip().strip('"')
    return text or None


def normalise_last_modified(value: Any) -> str | None:
    """A LastModified (datetime from a listing, ISO text from a CSV inventory, datetime or epoch ms from
    Parquet) as `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC: the precision S3 lists and inventories report."""
    if value is None or value == "":
        return None
    moment: datetime
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(float(value) / 1000.0, tz=UTC)
    else:
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    verdict: str
    tag_key: str
    etag: str
    last_modified: str

    def matches(self, *, verdict: str, tag_key: str, etag: str | None, last_modified: str | None) -> bool:
        """True only if verdict, tag key and both halves of the identity are equal (none may be unknown)."""
        return (
            etag is not None
            and last_modified is not None
            and self.verdict == verdict
            and self.tag_key == tag_key
            and self.etag == etag
            and self.last_modified == last_modified
        )


@dataclass
class LedgerStats:
    """What the ledger did in one run (reported by `tag-backfill --json` and the sweeper's log)."""

    skipped: int = 0
    lookups: int = 0
    lookup_errors: int = 0
    written: int = 0
    deleted: int = 0
    write_failures: int = 0
    dropped: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "skipped": self.skipped,
            "lookups": self.lookups,
            "lookup_errors": self.lookup_errors,
            "written": self.written,
            "deleted": self.deleted,
            "write_failures": self.write_failures,
            "dropped": self.dropped,
        }


class Ledger:
    """Reads and writes ledger entries in `table` (JobsTable). Thread-safe; `close()` drains the writer."""

    def __init__(
        self,
        dynamodb: Any,
        table: str,
        *,
        writer: str,
        on_error: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.writer = writer
        self.stats = LedgerStats()
        self._on_error = on_error
        self._sleep = sleep
        self._lock = threading.Lock()
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=QUEUE_LIMIT)
        self._thread: threading.Thread | None = None
        self._closed = False
        # A missing table (or no permission) is reported once and the ledger turned off for the run rather
        # than costing a failed request per chunk.
        self._disabled_reason: str | None = None

    @property
    def disabled(self) -> str | None:
        return self._disabled_reason

    # -- reads -----------------------------------------------------------------------------------------

    def lookup(self, objects: Iterable[tuple[str, str]]) -> dict[tuple[str, str], LedgerEntry]:
        """Entries for (bucket, key) pairs; pairs without one (or whose lookup failed) are absent."""
        unique = list(dict.fromkeys(objects))
        found: dict[tuple[str, str], LedgerEntry] = {}
        if not unique or self._disabled_reason is not None:
            return found
        for start in range(0, len(unique), BATCH_GET_SIZE):
            if self._disabled_reason is not None:
                break
            try:
                self._lookup_batch(unique[start : start + BATCH_GET_SIZE], found)
            except Exception as exc:  # never let the ledger fail tagging: no entry means "do the work"
                self._count("lookup_errors")
                self._failed("BatchGetItem", exc)
        return found

    def _lookup_batch(
        self, objects: list[tuple[str, str]], found: dict[tuple[str, str], LedgerEntry]
    ) -> None:
        wanted = {ledger_pk(bucket, key): (bucket, key) for bucket, key in objects}
        request: dict[str, Any] = {
            self.table: {
                "Keys": [{"pk": {"S": pk}, "sk": {"S": LEDGER_SK}} for pk in wanted],
                "ProjectionExpression": "pk, verdict, tag_key, etag, last_modified",
                "ConsistentRead": False,
            }
        }
        for attempt in range(MAX_UNPROCESSED_ROUNDS + 1):
            self._count("lookups")
            response = self.dynamodb.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self.table, []):
                pk = _s(item.get("pk"))
                entry = _entry(item)
                if pk in wanted and entry is not None:
                    found[wanted[pk]] = entry
            unprocessed = response.get("UnprocessedKeys") or {}
            if not unprocessed.get(self.table, {}).get("Keys"):
                return
            request = unprocessed
            if attempt < MAX_UNPROCESSED_ROUNDS:
                self._sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))
        # Still unprocessed: those objects simply get no skip this time.
        self._count("lookup_errors")

    # -- writes ----------------------------------------------------------------------------------------

    def record(
        self,
        bucket: str,
        key: str,
        *,
        verdict: str,
        tag_key: str,
        etag: str | None,
        last_modified: str | None,
    ) -> None:
        """Queue "this identity carries tag_key=verdict" (ignored when the identity is not fully known)."""
        if etag is None or last_modified is None:
            return
        item = {
            "pk": {"S": ledger_pk(bucket, key)},
            "sk": {"S": LEDGER_SK},
            "verdict": {"S": verdict},
            "tag_key": {"S": tag_key},
            "etag": {"S": etag},
            "last_modified": {"S": last_modified},
            "writer": {"S": self.writer},
            "written_at": {"N": str(int(time.time()))},
        }
        self._enqueue({"PutRequest": {"Item": item}})

    def forget(self, bucket: str, key: str) -> None:
        """Queue the removal of an object's entry (its tag was changed by something that cannot record the
        identity, like the stream handler): the next sweep then checks the object."""
        self._enqueue(
            {"DeleteRequest": {"Key": {"pk": {"S": ledger_pk(bucket, key)}, "sk": {"S": LEDGER_SK}}}}
        )

    def _enqueue(self, request: dict[str, Any]) -> None:
        if self._disabled_reason is not None or self._closed:
            self._count("dropped")
            return
        self._ensure_thread()
        try:
            self._queue.put_nowait(request)
        except queue.Full:
            self._count("dropped")

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = context_thread(self._drain, name="picops-ledger")
                self._thread.start()

    def _drain(self) -> None:
        # Full batches of 25 as entries come; the remainder when close() says the run is over. So a run of
        # n entries costs ceil(n / 25) requests, however the tag requests were spread in time.
        batch: list[dict[str, Any]] = []
        while True:
            request = self._queue.get()
            if request is not None:
                batch.append(request)
            if batch and (request is None or len(batch) >= BATCH_WRITE_SIZE):
                self._write(_dedupe(batch))
                batch = []
            if request is None:
                return

    def _write(self, batch: list[dict[str, Any]]) -> None:
        if self._disabled_reason is not None:
            self._count("dropped", len(batch))
            return
        pending = batch
        try:
            for attempt in range(MAX_UNPROCESSED_ROUNDS + 1):
                response = self.dynamodb.batch_write_item(RequestItems={self.table: pending})
                left = (response.get("UnprocessedItems") or {}).get(self.table) or []
                done = [r for r in pending if r not in left]
                self._count("written", sum(1 for r in done if "PutRequest" in r))
                self._count("deleted", sum(1 for r in done if "DeleteRequest" in r))
                if not left:
                    return
                pending = left
                if attempt < MAX_UNPROCESSED_ROUNDS:
                    self._sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))
            self._count("write_failures", len(pending))
        except Exception as exc:  # a failed ledger write never fails tagging
            self._count("write_failures", len(pending))
            self._failed("BatchWriteItem", exc)

    def close(self) -> LedgerStats:
        """Send everything queued, stop the writer, and return the run's stats. Idempotent."""
        with self._lock:
            thread, self._closed = self._thread, True
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join()
        return self.stats

    # -- bookkeeping -----------------------------------------------------------------------------------

    def count_skip(self) -> None:
        self._count("skipped")

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + n)

    def _failed(self, operation: str, exc: Exception) -> None:
        code = error_code(exc) if isinstance(exc, botocore.exceptions.ClientError) else ""
        message = f"{operation} on {self.table}: {code or type(exc).__name__}"
        # A missing table or a role without the grant will not heal within this run: stop asking.
        if is_missing(exc, SERVICE_MISSING) or code == "AccessDeniedException":
            with self._lock:
                first = self._disabled_reason is None
                self._disabled_reason = message
            if first and self._on_error is not None:
                self._on_error(f"tag ledger off for this run ({message}); every object is checked on S3")
            return
        if self._on_error is not None:
            self._on_error(f"tag ledger: {message} ({exc}); those objects are checked on S3 next time")


def _dedupe(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # BatchWriteItem refuses two requests for the same key in one call: the last one wins.
    by_key: dict[str, dict[str, Any]] = {}
    for request in batch:
        body = request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get("Key")
        by_key[str(body["pk"]["S"])] = request
    return list(by_key.values())


def _s(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("S"), str):
        return str(value["S"])
    return None


def _entry(item: dict[str, Any]) -> LedgerEntry | None:
    fields = [_s(item.get(name)) for name in ("verdict", "tag_key", "etag", "last_modified")]
    if any(f is None for f in fields):
        return None  # damaged or foreign item: treated as no entry
    verdict, tag_key, etag, last_modified = (str(f) for f in fields)
    return LedgerEntry(verdict, tag_key, etag, last_modified)


# -- the sweeper's rotating verify slice -------------------------------------------------------------------


def verify_slices(fraction: float) -> int:
    """How many slices the bucket is cut into for `verify_fraction` (0: never verify; 1: verify all)."""
    if fraction <= 0:
        return 0
    return max(1, round(1 / fraction))


def in_verify_slice(bucket: str, key: str, *, cycle: int, slices: int) -> bool:
    """True when (bucket, key) falls in the slice cycle `cycle` verifies. Slices partition the keys by a
    stable hash, and consecutive cycles take consecutive slices, so every object is verified once every
    `slices` cycles however the bucket changes."""
    if slices <= 0:
        return False
    if slices == 1:
        return True
    digest = hashlib.blake2b(f"{bucket}/{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % slices == cycle % slices


# -- identity for taggers whose source does not list it -------------------------------------------------


def with_identity(s3: Any, candidate: Any) -> Any:
    """`candidate` with the ETag and LastModified S3 reports for it now (GetObjectAttributes, which AWS
    authorises with s3:GetObject and s3:GetObjectAttributes, or the Version pair for a named version). Asked
    before the tag is read, so a re-upload racing the tagging yields an entry that no longer matches, never
    a wrong one. A missing object or a passing failure leaves the candidate as it was (no identity: no ledger
    entry, which only costs a later re-check); AccessDenied is a missing grant and is raised, so the run
    reports it instead of silently never writing a ledger entry."""
    from dataclasses import replace

    version = {"VersionId": candidate.version_id} if candidate.version_id else {}
    try:
        response = s3.get_object_attributes(
            Bucket=candidate.bucket, Key=candidate.key, ObjectAttributes=["ETag"], **version
        )
    except botocore.exceptions.ClientError as exc:
        if is_access_denied(exc):
            raise
        return candidate
    except botocore.exceptions.BotoCoreError:
        return candidate
    return replace(
        candidate,
        etag=normalise_etag(response.get("ETag")),
        last_modified=normalise_last_modified(response.get("LastModified")),
    )
