"""The bookings handlers on moto DynamoDB, fed real-shaped API Gateway v2 and SQS FIFO events."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from picops.core.bookings.checker import check_seat
from picops.core.bookings.payments import read_charges
from picops.handlers import _env
from tests.bookings_support import API_CONTEXT, PAYMENT_CONTEXT, Harness, get_event, post_event, sqs_event
from tests.conftest import load_event


@pytest.fixture
def pipe(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    harness = Harness(aws, monkeypatch)
    yield harness
    harness.close()


def _charges(pipe: Harness, booking_id: str) -> tuple[int, int]:
    records = read_charges(pipe.ddb, "picops-bookings", booking_id)
    return sum(r.attempts for r in records), sum(r.approvals for r in records)


def _no_violations(pipe: Harness, event: str, seat: str) -> None:
    loaded = pipe.store.load_seat(event, seat)
    assert loaded is not None
    charges = {e.booking_id: read_charges(pipe.ddb, "picops-bookings", e.booking_id) for e in loaded.line}
    assert check_seat(loaded, charges, now=pipe.now, drained=True) == []


def test_post_accepts_with_a_position_and_get_describes_it(pipe: Harness) -> None:
    first = pipe.book("gala", "A1", "ana")
    second = pipe.book("gala", "A1", "ben")
    assert (first["status"], first["position"]) == ("QUEUED", 1)
    assert (second["status"], second["position"]) == ("QUEUED", 2)
    assert first["booking_id"] < second["booking_id"]  # sortable ids
    status, doc = pipe.get(first["booking_id"])
    assert status == 200
    assert doc["status"] == "QUEUED"
    assert doc["seat_id"] == "A1"
    assert doc["charges"]["approved"] == 0
    # One message per booking in each queue, grouped by seat, deduplicated by booking id.
    assert [m.group for m in pipe.inventory.messages] == ["gala/A1", "gala/A1"]
    assert [m.dedup for m in pipe.payment.messages] == [first["booking_id"], second["booking_id"]]


def test_first_request_gets_the_seat_and_is_charged_once(pipe: Harness) -> None:
    ids = [pipe.book("gala", "A1", f"c{i}")["booking_id"] for i in range(3)]
    pipe.drain()
    states = [pipe.get(b)[1]["status"] for b in ids]
    assert states == ["PAID", "LOST", "LOST"]
    assert _charges(pipe, ids[0]) == (1, 1)
    assert _charges(pipe, ids[1]) == (0, 0)
    assert _charges(pipe, ids[2]) == (0, 0)
    _no_violations(pipe, "gala", "A1")


def test_64_character_event_and_seat_ids_are_accepted_and_decided(pipe: Harness) -> None:
    event, seat = "E" * 64, "S" * 64  # `event/seat` would be a 129-character MessageGroupId
    other_seat = "S" * 63 + "T"
    first = pipe.book(event, seat, "ana")
    second = pipe.book(event, seat, "ben")
    other = pipe.book(event, other_seat, "cy")
    groups = {m.group for m in pipe.inventory.messages}
    assert len(groups) == 2  # one group per seat, and the two seats do not share one
    assert all(len(g) <= 128 and g.startswith(f"{event}/SSS") for g in groups)
    pipe.drain()
    states = [pipe.get(b["booking_id"])[1]["status"] for b in (first, second, other)]
    assert states == ["PAID", "LOST", "PAID"]
    _no_violations(pipe, event, seat)


def test_a_decline_passes_the_seat_to_the_next_in_line_which_is_charged(pipe: Harness) -> None:
    a = pipe.book("gala", "A1", "ana", "tok_decline_card")["booking_id"]
    b = pipe.book("gala", "A1", "ben")["booking_id"]
    c = pipe.book("gala", "A1", "cy")["booking_id"]
    # Only the payment queue: the inventory consumer is not needed for the rules to hold.
    pipe.deliver(pipe.payment)
    assert [pipe.get(x)[1]["status"] for x in (a, b, c)] == ["PAYMENT_FAILED", "PAID", "LOST"]
    assert _charges(pipe, a) == (1, 0)
    assert _charges(pipe, b) == (1, 1)
    assert _charges(pipe, c) == (0, 0)
    pipe.drain()
    _no_violations(pipe, "gala", "A1")


def test_unknown_outcome_keeps_the_seat_paying_and_the_retry_approves_with_the_same_key(
    pipe: Harness,
) -> None:
    a = pipe.book("gala", "A1", "ana", "tok_timeout")["booking_id"]
    b = pipe.book("gala", "A1", "ben")["booking_id"]
    pipe.deliver(pipe.payment, limit=1)
    assert pipe.get(a)[1]["status"] == "PAYING"  # never advanced on unknown
    assert pipe.get(b)[1]["status"] == "QUEUED"
    assert len(pipe.payment.messages) == 2  # the failed message is back at the head of its group
    pipe.drain()
    assert pipe.get(a)[1]["status"] == "PAID"
    assert pipe.get(b)[1]["status"] == "LOST"
    assert _charges(pipe, a) == (2, 1)
    _no_violations(pipe, "gala", "A1")


def test_late_messages_and_duplicates_change_nothing_once_sold(pipe: Harness) -> None:
    a = pipe.book("gala", "A1", "ana")["booking_id"]
    pipe.drain()
    body = json.dumps({"booking_id": a, "event_id": "gala", "seat_id": "A1", "position": 1})
    event = load_event("sqs_fifo_booking.json")
    event["Records"][0]["body"] = body
    for _ in range(3):
        assert pipe.h.payment_handler(event, PAYMENT_CONTEXT) == {"batchItemFailures": []}
    assert _charges(pipe, a) == (1, 1)


def test_bad_requests_get_400_with_field_errors(pipe: Harness) -> None:
    cases = [
        (post_event(None, raw="{not json"), "body"),
        (post_event({"event_id": "gala", "seat_id": "A1", "customer_id": "x"}), "payment_token"),
        (
            post_event({"event_id": "ga#la", "seat_id": "A1", "customer_id": "x", "payment_token": "t"}),
            "event_id",
        ),
        (
            post_event(
                {"event_id": "g", "seat_id": "A1", "customer_id": "x", "payment_token": "t", "amount": -5}
            ),
            "amount",
        ),
        (
            post_event({"event_id": "g", "seat_id": "A1", "customer_id": "x", "payment_token": "t", "x": 1}),
            "x",
        ),
        (post_event([1, 2]), "body"),
        # Wrong types are refused, never coerced into a booking.
        (
            post_event(
                {"event_id": "g", "seat_id": "A1", "customer_id": "x", "payment_token": "t", "amount": True}
            ),
            "amount",
        ),
        (
            post_event(
                {"event_id": "g", "seat_id": "A1", "customer_id": "x", "payment_token": "t", "amount": "12"}
            ),
            "amount",
        ),
        (post_event({"event_id": 7, "seat_id": "A1", "customer_id": "x", "payment_token": "t"}), "event_id"),
        # Nesting that would make a recursive parser fail (a 500) is refused before parsing.
        (post_event(None, raw="[" * 5_000 + "]" * 5_000), "body"),
        (post_event(None, raw='{"a":' * 2_500 + "1" + "}" * 2_500), "body"),
    ]
    for event, field in cases:
        response = pipe.h.api_handler(event, API_CONTEXT)
        assert response["statusCode"] == 400, response
        body = json.loads(response["body"])
        assert field in [e["field"] for e in body["errors"]], body
    # Nothing was accepted.
    assert pipe.store.seat_keys() == []


def test_an_oversized_body_is_413(pipe: Harness) -> None:
    body = {"event_id": "g", "seat_id": "A1", "customer_id": "x", "payment_token": "t" * 20_000}
    response = pipe.h.api_handler(post_event(body), API_CONTEXT)
    assert response["statusCode"] == 413
    assert json.loads(response["body"])["errors"][0]["field"] == "body"
    assert pipe.store.seat_keys() == []


def test_unknown_routes_methods_and_ids(pipe: Harness) -> None:
    wrong_method = get_event("01HRZ8M2Q3W4E5R6T7Y8V9A0BP")
    wrong_method["requestContext"]["http"]["method"] = "DELETE"
    assert pipe.h.api_handler(wrong_method, API_CONTEXT)["statusCode"] == 405
    elsewhere = post_event({})
    elsewhere["routeKey"] = elsewhere["requestContext"]["routeKey"] = "$default"
    elsewhere["rawPath"] = elsewhere["requestContext"]["http"]["path"] = "/seats"
    assert pipe.h.api_handler(elsewhere, API_CONTEXT)["statusCode"] == 404
    # A named stage prefixes rawPath; the route API Gateway matched decides.
    staged = post_event({"event_id": "gala", "seat_id": "A1", "customer_id": "x", "payment_token": "tok_1"})
    staged["rawPath"] = "/prod/bookings"
    assert pipe.h.api_handler(staged, API_CONTEXT)["statusCode"] == 202
    assert pipe.h.api_handler(get_event("01HRZ8M2Q3W4E5R6T7Y8V9A0BP"), API_CONTEXT)["statusCode"] == 404
    bad = pipe.h.api_handler(get_event("..%2F..%2Fetc"), API_CONTEXT)
    assert bad["statusCode"] == 400
    assert json.loads(bad["body"])["errors"][0]["field"] == "id"


def test_a_lost_publish_keeps_its_place_and_is_republished(pipe: Harness) -> None:
    from picops.core.bookings import republish_pending

    pipe.fail_next_publish = True
    a = pipe.book("gala", "A1", "ana")["booking_id"]
    assert pipe.payment.messages == []
    assert [p.booking_id for p in pipe.store.pending_outbox(pipe.now)] == [a]
    result = republish_pending(pipe.store, pipe.publish, older_than_s=0, clock=lambda: pipe.now)
    assert result.republished == [a]
    assert pipe.store.pending_outbox(pipe.now) == []
    pipe.drain()
    assert pipe.get(a)[1]["status"] == "PAID"


def test_a_crash_after_paying_is_reconciled_after_the_lease_not_charged_twice(pipe: Harness) -> None:
    a = pipe.book("gala", "A1", "ana")["booking_id"]
    pipe.book("gala", "A1", "ben")
    original = pipe.gateway.charge

    class Crash(Exception):
        pass

    def crash_after_charge(*args: Any) -> Any:
        original(*args)
        raise Crash("the function died after the gateway approved")

    pipe.h._gateway(_env.account(PAYMENT_CONTEXT)).charge = crash_after_charge  # type: ignore[method-assign]
    pipe.deliver(pipe.payment, limit=1)
    assert pipe.get(a)[1]["status"] == "PAYING"
    _env.reset()  # a new container: the gateway is built again
    # Within the lease nobody interferes; after it, the retry charges again with the same key.
    pipe.deliver(pipe.payment, limit=1)
    assert pipe.get(a)[1]["status"] == "PAYING"
    pipe.now += 3600
    pipe.drain()
    assert pipe.get(a)[1]["status"] == "PAID"
    assert _charges(pipe, a) == (2, 1)
    _no_violations(pipe, "gala", "A1")


def test_fifo_batch_stops_a_seat_at_its_first_failure_but_not_other_seats(pipe: Harness) -> None:
    pipe.book("gala", "A1", "ana", "tok_timeout")
    pipe.book("gala", "A1", "ben")
    pipe.book("gala", "B2", "cy")
    batch = list(pipe.payment.messages)
    response = pipe.h.payment_handler(sqs_event(batch, "payment"), PAYMENT_CONTEXT)
    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    assert failed == [batch[0].message_id, batch[1].message_id]


def test_consumers_count_their_steps_by_kind_in_the_dashboard_s_metrics(
    pipe: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(2):
        pipe.book("gala", "M1", f"m{i}")
    capsys.readouterr()
    pipe.drain()
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    processed: dict[str, float] = {}
    for doc in emf:
        if "BookingsProcessed" in doc:
            value = doc["BookingsProcessed"]
            processed[doc["kind"]] = processed.get(doc["kind"], 0.0) + sum(
                value if isinstance(value, list) else [value]
            )
    # each booking's message went to both consumers: seat (inventory) and payment
    assert processed == {"seat": 2.0, "payment": 2.0}
    for doc in emf:
        assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "PicOps"
        assert doc["service"] == "picops"


def test_every_consumer_line_carries_the_booking_seat_key_and_message_ids(
    pipe: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from picops.handlers import bookings

    first = pipe.book("gala", "T1", "ana", "tok_decline_card")["booking_id"]
    second = pipe.book("gala", "T1", "ben")["booking_id"]
    written = io.StringIO()
    monkeypatch.setattr(bookings.logger.registered_handler, "stream", written)
    pipe.drain()
    lines = [json.loads(line) for line in written.getvalue().splitlines()]
    consumed = [line for line in lines if line["message"] in ("seat advanced", "seat settled")]
    assert {line["booking_id"] for line in consumed} == {first, second}
    for line in consumed:
        assert (line["event_id"], line["seat_id"]) == ("gala", "T1")
        assert line["idempotency_key"] == f"booking-{line['booking_id']}"
        assert line["message_id"]
    # Ids are per message: a warm container's next line does not inherit them.
    bookings.logger.info("after the batch")
    assert "booking_id" not in json.loads(written.getvalue().splitlines()[-1])


class _Segments:
    """A stand-in X-Ray provider: the subsegments opened and the annotations put."""

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.annotations: list[tuple[str, Any]] = []

    def in_subsegment(self, name: str) -> Any:
        import contextlib
        from unittest import mock

        self.opened.append(name)
        segment = mock.Mock()
        segment.put_annotation.side_effect = lambda key, value: self.annotations.append((key, value))
        return contextlib.nullcontext(segment)

    def put_annotation(self, key: str, value: Any) -> None:
        self.annotations.append((key, value))


def test_with_tracing_each_consumer_invocation_is_a_subsegment_annotated_with_its_bookings(
    pipe: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from picops.handlers import bookings

    segments = _Segments()
    monkeypatch.setattr(bookings.tracer, "provider", segments)
    monkeypatch.setattr(bookings.tracer, "disabled", False)
    booked = pipe.book("gala", "X1", "ana")["booking_id"]
    pipe.drain()
    assert "## inventory_handler" in segments.opened
    assert "## payment_handler" in segments.opened
    assert ("booking_id", booked) in segments.annotations
    assert ("Service", "picops-bookings") in segments.annotations
