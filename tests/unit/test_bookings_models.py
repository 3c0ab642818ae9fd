"""Booking ids, request validation and the local HTTP API's event shape (no AWS)."""

from __future__ import annotations

import json

import pytest

from picops.core.bookings import InvalidRequest, check_booking_id, parse_request
from picops.core.bookings.ids import id_time_ms, is_booking_id, new_id
from picops.local.http_api import http_api_event, match_route, response_parts
from tests.conftest import load_event


def test_ids_are_unique_sortable_and_valid() -> None:
    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(is_booking_id(i) and len(i) == 26 for i in ids)
    # Within one process, an id made with an older clock still sorts after the ones before it.
    assert new_id(now_ms=1_000) > ids[-1]
    assert id_time_ms(new_id()) > 1_600_000_000_000


@pytest.mark.parametrize(
    "bad",
    ["", "x" * 26, "01HRZ8M2Q3W4E5R6T7Y8V9A0BPX", "../../etc/passwd", "01HRZ8M2Q3W4E5R6T7Y8V9A0B#", None],
)
def test_bad_booking_ids_are_rejected(bad: object) -> None:
    with pytest.raises(InvalidRequest):
        check_booking_id(bad)


def test_request_validation_names_each_field() -> None:
    ok = parse_request(
        json.dumps({"event_id": "e", "seat_id": "s", "customer_id": "c", "payment_token": "tok_1"})
    )
    assert ok.amount is None
    with pytest.raises(InvalidRequest) as exc:
        parse_request(
            json.dumps({"event_id": "e#1", "seat_id": "", "customer_id": "c" * 65, "payment_token": "a b"})
        )
    assert {e["field"] for e in exc.value.errors} == {"event_id", "seat_id", "customer_id", "payment_token"}
    for body in (None, "", "{", "[]", "x" * 20000):
        with pytest.raises(InvalidRequest):
            parse_request(body)


def test_local_events_have_the_shape_of_api_gateway_s() -> None:
    fixture = load_event("apigw_http_v2_post_bookings.json")
    event = http_api_event(
        method="POST",
        raw_path="/bookings",
        raw_query="",
        headers={"Content-Type": "application/json", "Host": "127.0.0.1:3000"},
        body=b'{"a": 1}',
        route_key="POST /bookings",
        path_parameters={},
        source_ip="127.0.0.1",
    )
    assert set(event) == set(fixture)
    assert set(event["requestContext"]) == set(fixture["requestContext"])
    assert set(event["requestContext"]["http"]) == set(fixture["requestContext"]["http"])
    assert event["headers"]["content-type"] == "application/json"
    assert event["body"] == '{"a": 1}'
    assert event["isBase64Encoded"] is False
    get = load_event("apigw_http_v2_get_booking.json")
    route, params, _ = match_route("GET", get["rawPath"])
    assert (route, params) == (get["routeKey"], get["pathParameters"])
    assert match_route("DELETE", "/bookings/x")[0] is None
    assert match_route("GET", "/elsewhere") == (None, {}, False)
    binary = http_api_event(
        method="POST",
        raw_path="/bookings",
        raw_query="a=1",
        headers={"content-type": "image/png"},
        body=b"\x89PNG",
        route_key="POST /bookings",
        path_parameters={},
        source_ip="127.0.0.1",
    )
    assert binary["isBase64Encoded"] is True
    assert binary["queryStringParameters"] == {"a": "1"}


def test_responses_are_read_as_api_gateway_reads_them() -> None:
    assert response_parts({"statusCode": 202, "body": "{}", "headers": {"x": "1"}}) == (
        202,
        {"x": "1"},
        b"{}",
    )
    assert response_parts({"ok": True})[0] == 200
    assert response_parts({"statusCode": 200, "body": "aGk=", "isBase64Encoded": True})[2] == b"hi"


def test_seat_group_is_readable_and_fits_the_fifo_limit() -> None:
    from picops.core.bookings.models import seat_group

    assert seat_group("gala", "A1") == "gala/A1"
    assert seat_group("E" * 64, "S" * 63) == f"{'E' * 64}/{'S' * 63}"  # 128: still the plain form
    long = seat_group("E" * 64, "S" * 64)
    assert len(long) == 128
    assert long.startswith("E" * 64 + "/S")
    assert long == seat_group("E" * 64, "S" * 64)  # stable: every message of the seat shares its group
    assert long != seat_group("E" * 64, "S" * 63 + "T")
    assert seat_group("E" * 63, "S" * 65) != seat_group("E" * 64, "S" * 64)  # same text length, other seat
