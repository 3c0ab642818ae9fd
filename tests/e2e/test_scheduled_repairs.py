"""Scheduled repairs on the local stack: the outbox schedule republishes a booking whose publish was lost,
and the pipeline then decides it, with no one running `picops bookings republish`."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.e2e

PERIOD_S = 2


def test_a_crash_between_accept_and_publish_is_repaired_within_one_period(
    cli: Any, endpoint: str, server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICOPS_BOOKINGS__REPUBLISH_EVERY", f"{PERIOD_S}s")
    monkeypatch.setenv("PICOPS_BOOKINGS__REPUBLISH_AFTER_S", "0")
    provisioned = cli("provision", "--yes", "--json", endpoint=endpoint)
    assert provisioned.exit_code == 0, provisioned.stderr
    from picops.config import Settings
    from picops.core.bookings import BookingRequest, BookingStore
    from picops.stack.names import StackNames

    names = StackNames(Settings(), server_factory.account_id(), server_factory.region)
    store = BookingStore(server_factory.client("dynamodb"), names.physical("BookingsTable"))
    # The API accepted it and died before publishing: the outbox marker stays, nothing is queued.
    accepted = store.accept(
        BookingRequest(event_id="gala", seat_id="S1", customer_id="c", payment_token="tok_visa"), 1000
    )
    assert cli("bookings", "inspect", "--json", endpoint=endpoint).json()["unpublished"] == [
        accepted.booking_id
    ]

    # One period and a little: the schedule's first run comes one period after the start.
    run = cli(
        "local", "run", "--duration", str(PERIOD_S + 4), "--sweep-every", "0", "--json", endpoint=endpoint
    )
    assert run.exit_code == 0, run.stdout + run.stderr
    schedules = {s["rule"]: s for s in run.json()["schedules"]}
    outbox = schedules["OutboxSchedule"]
    assert outbox["every_s"] == PERIOD_S
    assert outbox["errors"] == 0
    assert outbox["runs"] >= 1

    # The schedule alone published it: nobody ran `bookings republish`.
    assert cli("bookings", "inspect", "--json", endpoint=endpoint).json()["unpublished"] == []
    # The consumers finish what they were handed (on a loaded machine the first run may end before payment).
    settled = cli("local", "run", "--until-idle", "--sweep-every", "0", "--json", endpoint=endpoint)
    assert settled.exit_code == 0, settled.stdout + settled.stderr
    inspect = cli("bookings", "inspect", "--json", endpoint=endpoint)
    assert inspect.exit_code == 0, inspect.stdout
    doc = inspect.json()
    assert doc["unpublished"] == []
    assert doc["violations"] == []
    [seat] = doc["seats"]
    assert (seat["state"], seat["holder"]) == ("SOLD", accepted.booking_id)
    assert seat["bookings"][0]["state"] == "PAID"
