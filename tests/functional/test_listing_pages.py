"""The listing source's pages: the first is one lookup chunk, so tagging starts while the rest is listed;
every key comes once, in order, and a resumed listing starts after its cursor."""

from __future__ import annotations

from typing import Any

import pytest

from picops.core.tagging.model import Candidate
from picops.core.tagging.sources.listing import FIRST_PAGE_SIZE, PAGE_SIZE, list_candidates

BUCKET = "pages"


@pytest.fixture
def s3(aws: Any) -> Any:
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    for i in range(FIRST_PAGE_SIZE + PAGE_SIZE + 7):
        client.put_object(Bucket=BUCKET, Key=f"in/{i:05d}.jpg", Body=b"x")
    return client


def _listing(s3: Any, **kwargs: Any) -> tuple[list[str], list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []

    def seen(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    s3.meta.events.register("provide-client-params.s3.ListObjectsV2", seen, unique_id="pages-test")
    try:
        keys = [c.key for c in list_candidates(s3, BUCKET, "in/", **kwargs) if isinstance(c, Candidate)]
    finally:
        s3.meta.events.unregister("provide-client-params.s3.ListObjectsV2", unique_id="pages-test")
    return keys, calls


def test_the_first_page_is_one_chunk_then_full_pages_and_every_key_comes_once(s3: Any) -> None:
    keys, calls = _listing(s3)
    total = FIRST_PAGE_SIZE + PAGE_SIZE + 7
    assert keys == [f"in/{i:05d}.jpg" for i in range(total)]
    assert [c["MaxKeys"] for c in calls] == [FIRST_PAGE_SIZE, PAGE_SIZE, PAGE_SIZE]
    assert "ContinuationToken" not in calls[0]
    assert all("ContinuationToken" in c for c in calls[1:])


def test_a_resumed_listing_starts_after_its_cursor(s3: Any) -> None:
    cursor = f"in/{FIRST_PAGE_SIZE + 10:05d}.jpg"
    keys, calls = _listing(s3, positions={"list": {"cursor": cursor}})
    assert keys[0] == f"in/{FIRST_PAGE_SIZE + 11:05d}.jpg"
    assert len(keys) == PAGE_SIZE + 7 - 11
    assert calls[0]["StartAfter"] == cursor
