"""`picops trace`'s pieces that need no stack: log matching, the Logs Insights request shapes (Stubber),
and the verdicts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import Stubber

from picops.aws import ClientFactory
from picops.config import AwsSettings
from picops.core.bookings.models import LineEntry, Seat, SeatState
from picops.core.trace import Entry
from picops.core.trace.bookings import booking_verdict, seat_verdict
from picops.core.trace.logs import from_events, insights_query, query_insights
from picops.errors import AwsError

BOOKING = "01J0000000000000000000000B"
GROUPS = {
    "/aws/lambda/picops-payment": "PaymentFunction",
    "/aws/lambda/picops-inventory": "InventoryFunction",
}
MATCH = [{"booking_id": BOOKING}, {"event_id": "gala", "seat_id": 'A"1'}]


@pytest.fixture
def logs() -> Any:
    return ClientFactory(AwsSettings(region="us-east-1")).client("logs")


def _line(**fields: Any) -> str:
    return json.dumps({"level": "INFO", "message": "seat settled", "function_request_id": "r", **fields})


def test_local_lines_match_any_alternative_whole_and_keep_their_ids() -> None:
    events = [
        {"timestamp": 10, "message": _line(booking_id=BOOKING)},
        {"timestamp": 11, "message": _line(event_id="gala", seat_id='A"1', booking_id="other")},
        {"timestamp": 12, "message": _line(event_id="gala", seat_id="A2")},  # another seat
        {"timestamp": 13, "message": "START RequestId: r Version: $LATEST"},
        {"timestamp": 14, "message": "{not json"},
    ]
    found = from_events("PaymentFunction", events, MATCH)
    assert [(e.at_ms, e.source, e.what) for e in found] == [
        (10, "PaymentFunction", "INFO seat settled"),
        (11, "PaymentFunction", "INFO seat settled"),
    ]
    # Powertools' context keys are dropped; the domain ids stay.
    assert found[1].fields == {"event_id": "gala", "seat_id": 'A"1', "booking_id": "other"}


def test_one_insights_query_spans_the_stack_s_log_groups_and_maps_rows_to_functions(logs: Any) -> None:
    stub = Stubber(logs)
    stub.add_response(
        "start_query",
        {"queryId": "q-1"},
        {
            "logGroupNames": sorted(GROUPS),
            "startTime": 1700000000,
            "endTime": 1700000101,
            "queryString": 'fields @timestamp, @message, @log | filter (booking_id = "' + BOOKING + '") or '
            '(event_id = "gala" and seat_id = "A\\"1") | sort @timestamp asc | limit 10000',
            "limit": 10000,
        },
    )
    stub.add_response("get_query_results", {"status": "Running", "results": []}, {"queryId": "q-1"})
    row = [
        {"field": "@timestamp", "value": "2023-11-14 22:13:21.500"},
        {"field": "@message", "value": _line(booking_id=BOOKING, outcome="x")},
        {"field": "@log", "value": "123456789012:/aws/lambda/picops-payment"},
    ]
    stub.add_response("get_query_results", {"status": "Complete", "results": [row]}, {"queryId": "q-1"})
    slept: list[float] = []
    with stub:
        found = query_insights(logs, GROUPS, MATCH, 1700000000_000, 1700000100_500, sleep=slept.append)
    stub.assert_no_pending_responses()
    assert slept == [1.0]
    assert [(e.at_ms, e.source, e.fields) for e in found] == [
        (1700000001500, "PaymentFunction", {"booking_id": BOOKING, "outcome": "x"})
    ]


@pytest.mark.parametrize("status", ["Failed", "Cancelled", "Timeout"])
def test_a_query_that_does_not_complete_is_an_aws_error_naming_it(logs: Any, status: str) -> None:
    stub = Stubber(logs)
    stub.add_response("start_query", {"queryId": "q-2"})
    stub.add_response("get_query_results", {"status": status, "results": []}, {"queryId": "q-2"})
    with stub, pytest.raises(AwsError, match=f"logs:GetQueryResults q-2 on 2 log groups: query {status}"):
        query_insights(logs, GROUPS, MATCH, 0, 1000, sleep=lambda _: None)


def test_a_query_still_running_past_the_timeout_gives_up(logs: Any) -> None:
    stub = Stubber(logs)
    stub.add_response("start_query", {"queryId": "q-3"})
    for _ in range(3):
        stub.add_response("get_query_results", {"status": "Running", "results": []}, {"queryId": "q-3"})
    with stub, pytest.raises(AwsError, match="still Running after 2 s"):
        query_insights(logs, GROUPS, MATCH, 0, 1000, timeout_s=2, sleep=lambda _: None)


def test_insights_query_quotes_values() -> None:
    assert 'key = "a\\\\b \\"c\\""' in insights_query([{"key": 'a\\b "c"'}])


def _entry(booking: str, position: int, *, failed: bool = False) -> LineEntry:
    return LineEntry(booking, position, "c", "tok", 100, 0, failed=failed)


def _charge(booking: str, outcome: str) -> Entry:
    return Entry(0, "BookingsTable", "charge", {"booking_id": booking, "outcome": outcome})


def test_booking_verdicts() -> None:
    first, second = _entry("B1", 1, failed=True), _entry("B2", 2)
    sold = Seat("gala", "A1", SeatState.SOLD, holder="B2", line=(first, second))
    assert booking_verdict(sold, second, 1) == ("charged once; seat SOLD to this booking", True)
    assert booking_verdict(sold, second, 2) == ("FAILED: charged 2 times", False)
    assert booking_verdict(sold, first, 0) == ("FAILED: payment declined; seat passed on", False)
    lost = _entry("B3", 3)
    assert booking_verdict(Seat("gala", "A1", SeatState.SOLD, holder="B2", line=(lost,)), lost, 0) == (
        "not charged; seat SOLD to booking B2",
        True,
    )


def test_seat_verdicts_catch_a_charge_the_seat_does_not_show() -> None:
    line = (_entry("B1", 1, failed=True), _entry("B2", 2))
    sold = Seat("gala", "A1", SeatState.SOLD, holder="B2", line=line)
    declined, approved = _charge("B1", "declined"), _charge("B2", "approved")
    assert seat_verdict(sold, [declined, approved]) == ("charged once; seat SOLD to booking B2", True)
    assert seat_verdict(sold, [declined])[1] is False  # SOLD with nobody charged
    paying = Seat("gala", "A1", SeatState.PAYING, holder="B2", line=line)
    assert seat_verdict(paying, [approved, approved]) == ("FAILED: booking B2 charged 2 times", False)
    assert seat_verdict(paying, [declined]) == ("in progress: seat PAYING, held by B2", True)
