"""Bookings end to end: `picops local run --api-port` on the moto server, `bookings book`, `bookings inspect`.

The stack is provisioned on the session moto server; `picops local run` runs as its own process (as a user
runs it), serving BookingsApi on a loopback port and pumping InventoryQueue and PaymentQueue through the real
handlers, while this test books through the real CLI. Waits are on observable state (the recorded API URL,
drained queues), never on wall-clock sleeps alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from picops.local.endpoint import free_port

pytestmark = pytest.mark.e2e

DEADLINE_S = 600.0  # a bound for failures only: every wait ends as soon as its state is observed


def _wait(condition: Any, what: str, proc: subprocess.Popen[bytes] | None = None) -> Any:
    began = time.monotonic()
    while time.monotonic() - began < DEADLINE_S:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"local run exited ({proc.returncode}) while waiting for {what}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def local_run(cli: Any, endpoint: str, isolated_env: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    provisioned = cli("provision", "--yes", "--json", endpoint=endpoint)
    assert provisioned.exit_code == 0, provisioned.stderr
    port = free_port()
    log = (isolated_env / "local-run.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "picops",
            "--endpoint-url",
            endpoint,
            "local",
            "run",
            "--api-port",
            str(port),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        env={**os.environ},
    )
    record = isolated_env / ".picops" / "local-api.json"
    try:
        _wait(
            lambda: record.exists() and json.loads(record.read_text()).get("url"),
            "the local API record",
            proc,
        )
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def _drained(cli: Any, endpoint: str) -> dict[str, Any] | None:
    result = cli("bookings", "inspect", "--json", endpoint=endpoint)
    doc = result.json()
    queues = {q["logical"]: q for q in doc["queues"]}
    busy = any(queues[q]["visible"] or queues[q]["in_flight"] for q in ("InventoryQueue", "PaymentQueue"))
    states = [b["state"] for s in doc["seats"] for b in s["bookings"]]
    # QUEUED, HOLDER and PAYING exist only on seats not yet SOLD: the pipeline still has work.
    if busy or any(s in ("QUEUED", "HOLDER", "PAYING") for s in states):
        return None
    return {"exit_code": result.exit_code, **doc}


def test_seats_races_declines_and_timeouts_through_the_local_api(
    cli: Any, endpoint: str, local_run: tuple[str, subprocess.Popen[bytes]], isolated_env: Path
) -> None:
    url, proc = local_run
    # Found without flags: the URL recorded by `local run`.
    first = cli(
        "bookings",
        "book",
        "--event",
        "gala",
        "--seat",
        "A1",
        "--customer",
        "ana",
        "--token",
        "tok_decline_x",
        "--json",
        endpoint=endpoint,
    )
    assert first.exit_code == 0, first.stderr
    assert first.json()["position"] == 1
    plan = [
        ("A1", "ben", "tok_visa"),
        ("A1", "cy", "tok_visa"),
        ("B2", "dee", "tok_timeout"),
        ("B2", "eve", "tok_visa"),
        ("C3", "fay", "tok_decline_card"),
    ]
    receipts = {"ana": first.json()}
    for seat, customer, token in plan:
        result = cli(
            "bookings",
            "book",
            "--event",
            "gala",
            "--seat",
            seat,
            "--customer",
            customer,
            "--token",
            token,
            "--api-url",
            url,
            "--json",
            endpoint=endpoint,
        )
        assert result.exit_code == 0, result.stderr
        receipts[customer] = result.json()
    # A race: several customers for one seat at once, straight at the API.
    from picops.cli.bookings import call_api

    racers = [f"r{i}" for i in range(5)]
    answers: dict[str, Any] = {}

    def race(customer: str) -> None:
        body = {"event_id": "gala", "seat_id": "D4", "customer_id": customer, "payment_token": "tok_visa"}
        answers[customer] = call_api(url, "POST", "/bookings", body)

    threads = [threading.Thread(target=race, args=(c,)) for c in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a[1]["position"] for a in answers.values()) == [1, 2, 3, 4, 5]
    assert all(a[0] == 202 for a in answers.values())

    # Rejected input: exit 2 with the API's field errors (checked locally first, then by the API).
    bad = cli(
        "bookings",
        "book",
        "--event",
        "gala",
        "--seat",
        "A1",
        "--customer",
        "x",
        "--token",
        "tok visa",
        "--json",
        endpoint=endpoint,
    )
    assert bad.exit_code == 2
    assert "payment_token" in bad.stderr
    status, body = call_api(url, "POST", "/bookings", {"event_id": "gala"})
    assert status == 400
    assert {e["field"] for e in body["errors"]} >= {"seat_id", "customer_id", "payment_token"}
    assert call_api(url, "GET", "/nowhere")[0] == 404

    doc = _wait(lambda: _drained(cli, endpoint), "the queues to drain", proc)
    assert doc["violations"] == [], doc["violations"]
    assert doc["exit_code"] == 0
    seats = {s["seat_id"]: s for s in doc["seats"]}
    a1 = {b["booking_id"]: b for b in seats["A1"]["bookings"]}
    assert a1[receipts["ana"]["booking_id"]]["state"] == "PAYMENT_FAILED"
    assert a1[receipts["ben"]["booking_id"]]["state"] == "PAID"
    assert a1[receipts["ben"]["booking_id"]]["charges"] == 1
    assert a1[receipts["cy"]["booking_id"]]["state"] == "LOST"
    assert seats["B2"]["holder"] == receipts["dee"]["booking_id"]  # the timeout was retried, not passed on
    assert seats["C3"]["state"] == "AVAILABLE"
    d4 = sorted(seats["D4"]["bookings"], key=lambda b: b["position"])
    assert [b["state"] for b in d4] == ["PAID", "LOST", "LOST", "LOST", "LOST"]
    # GET /bookings/{id} through the local API.
    status, got = call_api(url, "GET", f"/bookings/{receipts['ben']['booking_id']}")
    assert status == 200
    assert got["status"] == "PAID"
    assert got["charges"]["approved"] == 1

    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130  # stopped by Ctrl-C: the shell convention
    summary = json.loads(out)
    assert summary["api"]["requests"] >= 10
    mappings = {m["logical"]: m for m in summary["mappings"]}
    assert mappings["PaymentFunctionMapping"]["status"] == "ok"
    assert not (isolated_env / ".picops" / "local-api.json").exists()


def test_book_without_a_served_api_is_a_usage_error(cli: Any, endpoint: str) -> None:
    result = cli(
        "bookings",
        "book",
        "--event",
        "e",
        "--seat",
        "s",
        "--customer",
        "c",
        "--token",
        "t",
        endpoint=endpoint,
    )
    assert result.exit_code == 2
    assert f"picops --endpoint-url {endpoint} local run" in result.stderr


def test_book_on_an_unreachable_api_exits_3(cli: Any, endpoint: str) -> None:
    port = free_port()
    result = cli(
        "bookings",
        "book",
        "--event",
        "e",
        "--seat",
        "s",
        "--customer",
        "c",
        "--token",
        "t",
        "--api-url",
        f"http://127.0.0.1:{port}",
        endpoint=endpoint,
    )
    assert result.exit_code == 3, result.stderr
    assert "unreachable" in result.stderr


def test_inspect_exits_1_on_a_violation_and_names_it(cli: Any, endpoint: str, server_factory: Any) -> None:
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    from picops.config import Settings
    from picops.stack.names import StackNames

    names = StackNames(Settings(), server_factory.account_id(), server_factory.region)
    ddb = server_factory.client("dynamodb")
    table = names.physical("BookingsTable")
    pk = {"S": "SEAT#gala#Z9"}
    # A seat marked SOLD to a booking that was never charged: what a bug (or a hand edit) would leave.
    ddb.put_item(
        TableName=table,
        Item={
            "pk": pk,
            "sk": {"S": "#SEAT"},
            "event_id": {"S": "gala"},
            "seat_id": {"S": "Z9"},
            "state": {"S": "SOLD"},
            "holder": {"S": "01HRZ8M2Q3W4E5R6T7Y8V9A0BP"},
            "version": {"N": "3"},
            "next_seq": {"N": "1"},
        },
    )
    ddb.put_item(
        TableName=table,
        Item={
            "pk": pk,
            "sk": {"S": "LINE#0000000001"},
            "booking_id": {"S": "01HRZ8M2Q3W4E5R6T7Y8V9A0BP"},
            "position": {"N": "1"},
            "status": {"S": "QUEUED"},
        },
    )
    result = cli("bookings", "inspect", "--json", endpoint=endpoint)
    assert result.exit_code == 1
    doc = result.json()
    assert [v["rule"] for v in doc["violations"]] == ["sold-iff-paid"]
    assert doc["seats"][0]["bookings"][0] == {
        "booking_id": "01HRZ8M2Q3W4E5R6T7Y8V9A0BP",
        "position": 1,
        "state": "PAID",
        "charges": 0,
    }
    human = cli("bookings", "inspect", "--event", "gala", endpoint=endpoint)
    assert human.exit_code == 1
    assert "gala/Z9: SOLD" in human.stdout
    assert "sold-iff-paid" in human.stdout
    assert cli("bookings", "inspect", "--seat", "bad#seat", endpoint=endpoint).exit_code == 2


def test_republish_sends_bookings_whose_publish_was_lost(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    from picops.config import Settings
    from picops.core.bookings import BookingRequest, BookingStore
    from picops.stack.names import StackNames

    names = StackNames(Settings(), server_factory.account_id(), server_factory.region)
    store = BookingStore(
        server_factory.client("dynamodb"), names.physical("BookingsTable"), clock=lambda: 1000.0
    )
    # Accepted, then the function died before publishing: the outbox marker stays.
    accepted = store.accept(
        BookingRequest(event_id="gala", seat_id="Y1", customer_id="c", payment_token="tok_visa"), 1000
    )
    inspect = cli("bookings", "inspect", "--json", endpoint=endpoint)
    assert inspect.exit_code == 1
    assert inspect.json()["unpublished"] == [accepted.booking_id]
    dry = cli("bookings", "republish", "--dry-run", "--json", endpoint=endpoint)
    assert dry.exit_code == 0, dry.stderr
    assert dry.json()["pending"] == [accepted.booking_id]
    assert dry.json()["republished"] == []
    sqs = server_factory.client("sqs")
    payment_url = names.queue_url("PaymentQueue", endpoint)

    def visible() -> int:
        attrs = sqs.get_queue_attributes(QueueUrl=payment_url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

    assert visible() == 0
    done = cli("bookings", "republish", "--json", endpoint=endpoint)
    assert done.exit_code == 0, done.stderr
    assert done.json()["republished"] == [accepted.booking_id]
    assert visible() == 1
    again = cli("bookings", "inspect", "--json", endpoint=endpoint)
    assert again.json()["unpublished"] == []
    assert cli("bookings", "republish", "--json", endpoint=endpoint).json()["pending"] == []
