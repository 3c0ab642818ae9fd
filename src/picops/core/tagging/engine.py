"""The tagging engine shared by the stream Lambda, the sweeper, the batch-operations Lambda and the CLI.

Candidates are grouped into chunks of up to 100 per stream; each chunk costs one BatchGetItem, and only
objects with a verdict are handed to a bounded worker pool that reads their tags, merges, and writes only when
something changes. Per-object problems become outcomes (never a crashed run); botocore's retry config handles
throttling and 5xx before an error reaches here.

With a tag ledger (`ledger`), each chunk also looks up the ledger entries of its objects that have a listed
identity (one more BatchGetItem, sent beside the verdict lookup); an object with a verdict whose entry
matches its verdict, tag key, ETag and LastModified is `unchanged` with no S3 request at all, unless
`must_verify(candidate)` says to check it anyway. Every object found or made right is queued for the
ledger once its tag request is done.

S3 has no conditional PutObjectTagging: a tag another writer changes between our Get and Put is overwritten
by the merged set we read. The window is one round trip; the moderation tag itself always ends correct.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, wait
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from picops.aws_errors import OBJECT_MISSING, TRANSIENT_EXCEPTIONS, code_of, is_transient, message_of
from picops.core.tagging.ledger import Ledger, LedgerEntry
from picops.core.tagging.merge import MergeDecision, merge_tags, remove_tag
from picops.core.tagging.model import Candidate, ObjectResult, Outcome, StreamDone
from picops.core.tagging.tracker import Tracker
from picops.core.tagging.verdicts import BATCH_SIZE, VerdictLookup
from picops.threads import ContextThreadPool

ResultCallback = Callable[[ObjectResult], None]
# Chunks whose lookups may be in flight at once.
LOOKAHEAD = 4


@dataclass(frozen=True)
class EngineOptions:
    tag_key: str
    statuses: tuple[str, ...]
    overwrite: bool = True
    dry_run: bool = False
    concurrency: int = 32


@dataclass(frozen=True)
class RunEnd:
    """Why `TaggingEngine.run` returned: source exhausted, `--limit` reached, or `should_stop` true."""

    exhausted: bool
    limited: bool
    stopped: bool


class TaggingEngine:
    def __init__(
        self,
        s3: Any,
        verdicts: VerdictLookup | None,
        options: EngineOptions,
        *,
        ledger: Ledger | None = None,
        must_verify: Callable[[Candidate], bool] | None = None,
    ) -> None:
        if options.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.s3 = s3
        self.verdicts = verdicts
        self.options = options
        self.ledger = ledger
        self.must_verify = must_verify

    # -- the ledger ----------------------------------------------------------------------------------

    def remember(self, candidate: Candidate, verdict: str, result: ObjectResult) -> None:
        """Queue a ledger entry when `result` shows the object now carries `verdict` (read or written)."""
        if self.ledger is None or self.options.dry_run or result.by_ledger:
            return
        if result.outcome in (Outcome.TAGGED, Outcome.UNCHANGED) and result.new == verdict:
            self.ledger.record(
                candidate.bucket,
                candidate.key,
                verdict=verdict,
                tag_key=self.options.tag_key,
                etag=candidate.etag,
                last_modified=candidate.last_modified,
            )

    def _ledger_asked(self, batch: list[Candidate]) -> list[Candidate]:
        """The objects of a chunk the ledger could vouch for: a listed identity and no verify asked."""
        if self.ledger is None:
            return []
        must_verify = self.must_verify
        return [
            c
            for c in batch
            if c.etag is not None
            and c.last_modified is not None
            and not (must_verify is not None and must_verify(c))
        ]

    def _ledger_entries(self, asked: list[Candidate]) -> dict[tuple[str, str], LedgerEntry]:
        if self.ledger is None or not asked:
            return {}
        return self.ledger.lookup((c.bucket, c.key) for c in asked)

    def _ledger_skips(
        self,
        with_verdict: list[tuple[Candidate, str | None]],
        entries: dict[tuple[str, str], LedgerEntry],
    ) -> set[int]:
        """Indexes (into `with_verdict`) of the objects whose entry matches their verdict and identity."""
        skips = set()
        for i, (candidate, verdict) in enumerate(with_verdict):
            entry = entries.get((candidate.bucket, candidate.key))
            if (
                entry is not None
                and verdict is not None
                and verdict in self.options.statuses
                and entry.matches(
                    verdict=verdict,
                    tag_key=self.options.tag_key,
                    etag=candidate.etag,
                    last_modified=candidate.last_modified,
                )
            ):
                skips.add(i)
        return skips

    # -- one object ----------------------------------------------------------------------------------

    def tag_object(self, candidate: Candidate, verdict: str | None) -> ObjectResult:
        """Bring one object's moderation tag in line with `verdict` (None: pending, no S3 request)."""
        if verdict is None:
            return self._result(candidate, Outcome.PENDING)
        if verdict not in self.options.statuses:
            return self._result(
                candidate,
                Outcome.FAILED,
                new=verdict,
                error=f"verdict {verdict!r} is not one of {', '.join(self.options.statuses)}",
            )
        return self._apply(
            candidate,
            lambda tags: merge_tags(tags, self.options.tag_key, verdict, overwrite=self.options.overwrite),
        )

    def untag_object(self, candidate: Candidate) -> ObjectResult:
        """Remove the moderation tag (a verdict deleted from the table, with `on_remove = "remove"`)."""
        return self._apply(candidate, lambda tags: remove_tag(tags, self.options.tag_key))

    def _apply(
        self, candidate: Candidate, decide: Callable[[list[dict[str, str]]], MergeDecision]
    ) -> ObjectResult:
        version = {"VersionId": candidate.version_id} if candidate.version_id else {}
        try:
            current = self.s3.get_object_tagging(Bucket=candidate.bucket, Key=candidate.key, **version)
            decision = decide(current.get("TagSet", []))
            if decision.error is not None:
                return self._result(
                    candidate, Outcome.FAILED, old=decision.old, new=decision.new, error=decision.error
                )
            if not decision.changed:
                return self._result(candidate, Outcome.UNCHANGED, old=decision.old, new=decision.new)
            if not self.options.dry_run:
                self.s3.put_object_tagging(
                    Bucket=candidate.bucket, Key=candidate.key, Tagging={"TagSet": decision.tags}, **version
                )
            return self._result(candidate, Outcome.TAGGED, old=decision.old, new=decision.new)
        except botocore.exceptions.ClientError as exc:
            return self._client_error(candidate, exc)
        except TRANSIENT_EXCEPTIONS as exc:
            return self._result(candidate, Outcome.FAILED, error=str(exc), transient=True)
        except Exception as exc:  # a per-object failure must never crash the run
            return self._result(candidate, Outcome.FAILED, error=f"{type(exc).__name__}: {exc}")

    def _client_error(self, candidate: Candidate, exc: botocore.exceptions.ClientError) -> ObjectResult:
        code = code_of(exc)
        if code in OBJECT_MISSING:
            return self._result(candidate, Outcome.MISSING, error=code)
        message = f"{exc.operation_name}: {code}: {message_of(exc)}".rstrip(": ")
        return self._result(candidate, Outcome.FAILED, error=message, transient=is_transient(exc))

    @staticmethod
    def _result(
        candidate: Candidate,
        outcome: Outcome,
        *,
        old: str | None = None,
        new: str | None = None,
        error: str | None = None,
        transient: bool = False,
        by_ledger: bool = False,
    ) -> ObjectResult:
        return ObjectResult(
            candidate.bucket,
            candidate.key,
            candidate.version_id,
            outcome,
            old,
            new,
            error,
            transient,
            by_ledger,
        )

    # -- many objects --------------------------------------------------------------------------------

    def run(
        self,
        items: Iterable[Candidate | StreamDone],
        tracker: Tracker,
        *,
        on_result: ResultCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
        limit: int | None = None,
        on_chunk: Callable[[], None] | None = None,
    ) -> RunEnd:
        """Process `items` until they run out, `limit` candidates were taken, or `should_stop()` is true.

        Results go to `tracker` (and `on_result`, called from worker threads). On return every submitted
        object has finished; buffered but unsubmitted candidates are dropped, uncommitted, so a resumed run
        redoes them. A KeyboardInterrupt cancels queued work, waits for in-flight requests, and propagates.
        """
        if self.verdicts is None:
            raise ValueError("run() needs a VerdictLookup")
        run = _Run(self, self.verdicts, tracker, on_result, on_chunk)
        iterator = iter(items)
        try:
            end = run.read(iterator, should_stop, limit)
            run.drain()
        except BaseException:
            run.abort()
            raise
        finally:
            # Stop the source now (parallel listers, open inventory files), not at garbage collection.
            close = getattr(iterator, "close", None)
            if callable(close):
                close()
        run.pool.shutdown(wait=True)
        return end


class _Run:
    """The state of one `TaggingEngine.run`, shared by the reading thread, the lookup pool and the tag pool.

    The reading thread buffers candidates per stream and hands full chunks to the lookup pool (at most
    LOOKAHEAD at once: once the ledger makes tag requests rare, the lookups are the run's critical path).
    Lookups run concurrently, but each chunk's objects go to the tag pool in source order (`turn`): the
    tracker commits a chunk only when all of it is done, so interleaving chunks would hold every checkpoint
    back until the end. At most 2x concurrency objects are queued or in flight (`slots`), so memory stays
    flat however big the source. A lookup thread's failure is handed to the reading thread, which raises it.
    """

    def __init__(
        self,
        engine: TaggingEngine,
        verdicts: VerdictLookup,
        tracker: Tracker,
        on_result: ResultCallback | None,
        on_chunk: Callable[[], None] | None,
    ) -> None:
        self.engine, self.verdicts, self.tracker = engine, verdicts, tracker
        self.on_result, self.on_chunk = on_result, on_chunk
        concurrency = engine.options.concurrency
        self.slots = threading.BoundedSemaphore(concurrency * 2)
        self.lookahead = threading.BoundedSemaphore(LOOKAHEAD)
        self.aborting = threading.Event()
        self.failures: list[BaseException] = []
        self.turn = threading.Condition()
        self.next_turn = 0
        self.submitted = 0
        self.buffers: dict[str, list[Candidate]] = {}
        self.in_flight: list[Future[None]] = []
        self.pool = ContextThreadPool(max_workers=concurrency, thread_name_prefix="picops-tag")
        self.lookups = ContextThreadPool(max_workers=LOOKAHEAD, thread_name_prefix="picops-lookup")
        self.ledger_lookups = ContextThreadPool(
            max_workers=LOOKAHEAD, thread_name_prefix="picops-ledger-lookup"
        )

    # -- the reading thread --------------------------------------------------------------------------

    def read(
        self,
        iterator: Iterator[Candidate | StreamDone],
        should_stop: Callable[[], bool] | None,
        limit: int | None,
    ) -> RunEnd:
        taken = 0
        while True:
            self._raise_failure()
            if should_stop is not None and should_stop():
                self.buffers.clear()
                return RunEnd(exhausted=False, limited=False, stopped=True)
            if limit is not None and taken >= limit:
                return RunEnd(exhausted=False, limited=True, stopped=False)
            item = next(iterator, None)
            if item is None:
                return RunEnd(exhausted=True, limited=False, stopped=False)
            if isinstance(item, StreamDone):
                self._flush(item.stream, done=True)
                continue
            buffer = self.buffers.setdefault(item.stream, [])
            buffer.append(item)
            taken += 1
            if len(buffer) >= BATCH_SIZE:
                self._flush(item.stream)

    def drain(self) -> None:
        """Flush what is buffered; the last chunks' lookups (and the tag work they submit) finish while
        checkpoints go on."""
        for stream in list(self.buffers):
            self._flush(stream)
        while self.in_flight:
            _, still = wait(self.in_flight, timeout=0.2)
            self.in_flight = list(still)
            self._raise_failure()
            self._tick()
        self.lookups.shutdown(wait=True)
        self.ledger_lookups.shutdown(wait=True)
        self._raise_failure()

    def abort(self) -> None:
        self.aborting.set()
        self.lookups.shutdown(wait=True, cancel_futures=True)
        self.ledger_lookups.shutdown(wait=True, cancel_futures=True)
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _flush(self, stream: str, *, done: bool = False) -> None:
        batch = self.buffers.pop(stream, [])
        cursor = batch[-1].cursor if batch else None
        # Opened here, in source order, so the tracker commits chunks in order whenever they finish.
        chunk = self.tracker.open_chunk(stream, len(batch), cursor, done=done)
        if batch:
            while not self.lookahead.acquire(timeout=0.2):
                if self.failures:
                    break
                self._tick()  # keep checkpoints and progress moving while earlier chunks finish
            self._raise_failure()
            # Only the unfinished few are kept: memory stays flat however many chunks a run has.
            self.in_flight = [f for f in self.in_flight if not f.done()]
            self.in_flight.append(self.lookups.submit(self._resolve, chunk, batch, self.submitted))
            self.submitted += 1
        self._tick()

    def _tick(self) -> None:
        if self.on_chunk is not None:
            self.on_chunk()

    def _raise_failure(self) -> None:
        if self.failures:
            raise self.failures[0]

    # -- the lookup pool -----------------------------------------------------------------------------

    def _resolve(self, chunk: Any, batch: list[Candidate], seq: int) -> None:
        try:
            # The ledger lookup goes out beside the verdict lookup rather than after it: it needs only the
            # listed identities, and once the ledger makes tag requests rare the two round trips in a row
            # were each chunk's critical path. Pending objects ride along in the same request.
            asked = self.engine._ledger_asked(batch)
            entries = self.ledger_lookups.submit(self.engine._ledger_entries, asked) if asked else None
            found = self.verdicts.lookup(c.key for c in batch)
            with_verdict = [(c, found.get(c.key)) for c in batch]
            skips = self.engine._ledger_skips(with_verdict, entries.result() if entries else {})
            if not self._wait_turn(seq):
                return
            try:
                self._dispatch(chunk, with_verdict, skips)
            finally:
                with self.turn:
                    self.next_turn += 1
                    self.turn.notify_all()
        except BaseException as exc:  # handed to the run's thread, which raises it
            self.failures.append(exc)
            self.aborting.set()
        finally:
            self.lookahead.release()

    def _wait_turn(self, seq: int) -> bool:
        """Wait until the chunks before this one have been handed to the tag pool (False: aborting)."""
        with self.turn:
            while self.next_turn != seq:
                if self.aborting.is_set():
                    return False
                self.turn.wait(0.1)
        return True

    def _dispatch(
        self, chunk: Any, with_verdict: list[tuple[Candidate, str | None]], skips: set[int]
    ) -> None:
        """Settle pending and ledger-vouched objects here; hand the rest to the tag pool, in order."""
        engine = self.engine
        for index, (candidate, verdict) in enumerate(with_verdict):
            if verdict is None:
                self._record(chunk, engine._result(candidate, Outcome.PENDING))
                continue
            if index in skips:
                result = engine._result(
                    candidate, Outcome.UNCHANGED, old=verdict, new=verdict, by_ledger=True
                )
                if engine.ledger is not None:
                    engine.ledger.count_skip()
                self._record(chunk, result)
                continue
            if not self._take_slot():
                return
            self.pool.submit(self._work, chunk, candidate, verdict)

    def _take_slot(self) -> bool:
        while not self.slots.acquire(timeout=0.1):
            if self.aborting.is_set():
                return False
        if self.aborting.is_set():
            self.slots.release()
            return False
        return True

    # -- the tag pool --------------------------------------------------------------------------------

    def _work(self, chunk: Any, candidate: Candidate, verdict: str) -> None:
        try:
            result = self.engine.tag_object(candidate, verdict)
            self.engine.remember(candidate, verdict, result)
            self._record(chunk, result)
        finally:
            self.slots.release()

    def _record(self, chunk: Any, result: ObjectResult) -> None:
        self.tracker.record(chunk, result)
        if self.on_result is not None:
            self.on_result(result)
