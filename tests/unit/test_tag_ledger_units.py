"""Tag-ledger pieces without AWS: identity normalisation (listing, CSV and Parquet inventories agree), the
match rule, and batching of writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from picops.core.tagging import Ledger
from picops.core.tagging.ledger import LedgerEntry, ledger_pk, normalise_etag, normalise_last_modified


def test_listing_csv_and_parquet_identities_compare_equal() -> None:
    listed = datetime(2026, 11, 1, 8, 30, 5, tzinfo=UTC)  # what botocore parses from ListObjectsV2
    assert normalise_last_modified(listed) == "2026-11-01T08:30:05.000Z"
    assert normalise_last_modified("2026-11-01T08:30:05.000Z") == "2026-11-01T08:30:05.000Z"  # CSV inventory
    assert normalise_last_modified(1793521805000) == "2026-11-01T08:30:05.000Z"  # Parquet epoch ms
    assert normalise_last_modified(datetime(2026, 11, 1, 8, 30, 5)) == "2026-11-01T08:30:05.000Z"
    other_zone = listed.astimezone(timezone(timedelta(hours=2)))
    assert normalise_last_modified(other_zone) == "2026-11-01T08:30:05.000Z"
    assert normalise_last_modified("") is None
    assert normalise_last_modified("not a date") is None
    assert normalise_etag('"9b2cf535f27731c974343645a3985328"') == "9b2cf535f27731c974343645a3985328"
    assert normalise_etag("9b2cf535f27731c974343645a3985328-3") == "9b2cf535f27731c974343645a3985328-3"
    assert normalise_etag('""') is None


@pytest.mark.parametrize(
    ("change", "matches"),
    [
        ({}, True),
        ({"verdict": "flagged"}, False),
        ({"tag_key": "other"}, False),
        ({"etag": "ffff"}, False),
        ({"last_modified": "2026-11-01T08:30:06.000Z"}, False),
        ({"etag": None}, False),
        ({"last_modified": None}, False),
    ],
)
def test_an_entry_matches_only_on_verdict_tag_key_and_both_identity_halves(
    change: dict[str, Any], matches: bool
) -> None:
    entry = LedgerEntry("approved", "moderation-status", "abcd", "2026-11-01T08:30:05.000Z")
    now = {
        "verdict": "approved",
        "tag_key": "moderation-status",
        "etag": "abcd",
        "last_modified": "2026-11-01T08:30:05.000Z",
    }
    assert entry.matches(**{**now, **change}) is matches


class _Recorder:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        self.batches.append(RequestItems["jobs"])
        return {}


def test_writes_go_in_batches_of_25_with_the_last_key_winning() -> None:
    ddb = _Recorder()
    ledger = Ledger(ddb, "jobs", writer="test")
    for i in range(60):
        ledger.record("b", f"k{i}", verdict="approved", tag_key="t", etag="e", last_modified="m")
    ledger.forget("b", "k59")  # the same key twice in one batch: BatchWriteItem would refuse it
    ledger.record("b", "no-identity", verdict="approved", tag_key="t", etag=None, last_modified="m")
    stats = ledger.close()
    assert [len(b) for b in ddb.batches] == [25, 25, 10]
    last = ddb.batches[-1]
    assert {"DeleteRequest": {"Key": {"pk": {"S": ledger_pk("b", "k59")}, "sk": {"S": "TAG"}}}} in last
    assert (stats.written, stats.deleted, stats.write_failures) == (59, 1, 0)
    # After close, nothing more is accepted (or sent).
    ledger.record("b", "late", verdict="approved", tag_key="t", etag="e", last_modified="m")
    assert ledger.close().dropped == 1
    assert len(ddb.batches) == 3
