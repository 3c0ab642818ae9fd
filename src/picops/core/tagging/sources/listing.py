"""Candidates from a bucket listing: the ListObjectsV2 paginator, optionally over key ranges in parallel.

A range is the keys in (low, high] (S3 lists in UTF-8 byte order, which Python's str order matches), so
ranges never overlap and their union is the whole prefix. Each range is its own checkpoint stream whose
cursor is the last committed key, passed back as StartAfter on resume.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from picops.core.tagging.ledger import normalise_etag, normalise_last_modified
from picops.core.tagging.model import Candidate, StreamDone
from picops.core.tagging.verdicts import BATCH_SIZE
from picops.stack.state_objects import RESERVED_PREFIX
from picops.threads import context_thread

PAGE_SIZE = 1000
FIRST_PAGE_SIZE = BATCH_SIZE  # one lookup chunk
_BOUNDARY_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def range_bounds(prefix: str, ranges: int) -> list[tuple[str | None, str | None]]:
    """(low, high] pairs splitting `prefix` into `ranges` parts by the character after the prefix."""
    if ranges < 1:
        raise ValueError("ranges must be at least 1")
    ranges = min(ranges, len(_BOUNDARY_ALPHABET))
    cuts = [prefix + _BOUNDARY_ALPHABET[(i * len(_BOUNDARY_ALPHABET)) // ranges] for i in range(1, ranges)]
    lows: list[str | None] = [None, *cuts]
    highs: list[str | None] = [*cuts, None]
    return list(zip(lows, highs, strict=True))


def stream_name(index: int, ranges: int) -> str:
    return "list" if ranges == 1 else f"list-{index}"


def _list_range(
    s3: Any,
    bucket: str,
    prefix: str,
    low: str | None,
    high: str | None,
    start_after: str | None,
    stream: str,
) -> Iterator[Candidate]:
    after = max(filter(None, (low, start_after)), default=None)
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if after:
        params["StartAfter"] = after
    for page in _pages(s3, params):
        for obj in page.get("Contents", []):
            key = str(obj["Key"])
            if high is not None and key > high:
                return
            if key.startswith(RESERVED_PREFIX):
                continue
            # The listed ETag and LastModified are the identity the tag ledger compares.
            yield Candidate(
                bucket,
                key,
                None,
                stream,
                key,
                normalise_etag(obj.get("ETag")),
                normalise_last_modified(obj.get("LastModified")),
            )


def _pages(s3: Any, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """ListObjectsV2 pages: a first page of one lookup chunk, then full pages. The work on the first
    objects starts as soon as one chunk is listed, and the rest of the listing is read while they are being
    tagged; one request more per range (a listing's time grows with the keys it returns, not its count)."""
    size = FIRST_PAGE_SIZE
    while True:
        page: dict[str, Any] = s3.list_objects_v2(**params, MaxKeys=size)
        yield page
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return
        params = {**params, "ContinuationToken": token}
        params.pop("StartAfter", None)
        size = PAGE_SIZE


def list_candidates(
    s3: Any,
    bucket: str,
    prefix: str = "",
    *,
    positions: Mapping[str, Mapping[str, Any]] | None = None,
    ranges: int = 1,
) -> Iterator[Candidate | StreamDone]:
    """Every object under `prefix`, each range resumed after its saved cursor; finished ranges skipped."""
    positions = positions or {}
    bounds = range_bounds(prefix, ranges)
    todo = []
    for index, (low, high) in enumerate(bounds):
        name = stream_name(index, len(bounds))
        saved = positions.get(name, {})
        if saved.get("done"):
            continue
        todo.append((name, low, high, saved.get("cursor")))
    if len(todo) == 1 or ranges == 1:
        for name, low, high, cursor in todo:
            yield from _list_range(s3, bucket, prefix, low, high, cursor, name)
            yield StreamDone(name)
        return
    yield from _parallel(s3, bucket, prefix, todo)


_END = object()


def _parallel(
    s3: Any, bucket: str, prefix: str, todo: list[tuple[str, str | None, str | None, Any]]
) -> Iterator[Candidate | StreamDone]:
    # Bounded queue: listers run at most a few pages ahead of the taggers.
    out: queue.Queue[Any] = queue.Queue(maxsize=4 * PAGE_SIZE)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def lister(name: str, low: str | None, high: str | None, cursor: Any) -> None:
        try:
            for candidate in _list_range(s3, bucket, prefix, low, high, cursor, name):
                if not put(candidate):
                    return
            put(StreamDone(name))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)
        finally:
            put(_END)

    threads = [context_thread(lister, args=job, name=f"picops-list-{job[0]}") for job in todo]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            item = out.get()
            if item is _END:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        stop.set()
