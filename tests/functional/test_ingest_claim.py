"""`JobStore.claim`: the lease over one object version, each part of its condition (in-process moto)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from picops.core.ingest import JobStore
from picops.core.ingest.events import ObjectRef
from picops.core.ingest.jobs import claim_condition
from tests.ingest_support import count_calls_context, create_stack

T0 = dt.datetime(2026, 12, 4, 7, 0, tzinfo=dt.UTC)
REF = ObjectRef(bucket="uploads", key="a.jpg", version_id="v1", etag='"e1"', size=10)


@pytest.fixture
def store(aws: Any) -> JobStore:
    return JobStore(aws.client("dynamodb"), create_stack(aws).table)


def test_a_held_lease_is_reported_from_the_same_request(store: JobStore) -> None:
    first = store.claim(REF, "image", lease_s=60, now=T0)
    assert first.acquired
    with count_calls_context(store.dynamodb) as calls:
        second = store.claim(REF, "image", lease_s=60, now=T0 + dt.timedelta(seconds=30))
    assert not second.acquired
    assert second.job is not None
    assert (second.job.status, second.job.claim, second.job.attempts) == ("IN_PROGRESS", first.claim, 1)
    assert calls == {"UpdateItem": 1}  # the holder came back with the refusal: no GetItem


def test_an_expired_lease_is_taken_over(store: JobStore) -> None:
    store.claim(REF, "image", lease_s=60, now=T0)
    later = store.claim(REF, "image", lease_s=60, now=T0 + dt.timedelta(seconds=61))
    assert later.acquired
    job = store.get(REF)
    assert job is not None
    assert (job.claim, job.attempts) == (later.claim, 2)


def test_a_reprocess_token_retries_a_failed_job_once(store: JobStore) -> None:
    first = store.claim(REF, "image", lease_s=60, now=T0)
    assert first.claim is not None
    store.finish(REF, first.claim, status="FAILED", reason="decode error", now=T0)
    retry = store.claim(REF, "image", lease_s=60, token="t1", now=T0)
    assert retry.acquired
    assert retry.claim is not None
    store.finish(REF, retry.claim, status="FAILED", reason="decode error", now=T0)
    assert not store.claim(REF, "image", lease_s=60, token="t1", now=T0).acquired  # same token: once
    assert store.claim(REF, "image", lease_s=60, token="t2", now=T0).acquired


def test_force_reprocesses_a_finished_job_but_never_one_in_progress(store: JobStore) -> None:
    first = store.claim(REF, "image", lease_s=60, now=T0)
    assert not store.claim(REF, "image", lease_s=60, token="t1", force=True, now=T0).acquired
    assert first.claim is not None
    store.finish(REF, first.claim, status="FAILED", reason="x", now=T0)
    assert store.claim(REF, "image", lease_s=60, token="t1", force=True, now=T0).acquired


@pytest.mark.parametrize(
    ("token", "force", "parts"),
    [
        (False, False, ["attribute_not_exists(#pk)", "#lease_until < :now"]),
        (True, False, ["#reprocess_token <> :token", "#status = :failed"]),
        (True, True, ["#status <> :in_progress OR #lease_until < :now"]),
    ],
)
def test_the_condition_is_built_from_named_parts(token: bool, force: bool, parts: list[str]) -> None:
    condition = claim_condition(token=token, force=force)
    assert all(part in condition for part in parts)
    assert ("reprocess_token" in condition) is token
