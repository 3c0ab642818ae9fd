"""The demo's bookings step on the moto server, after provision."""

from __future__ import annotations

from typing import Any

import pytest

from picops.cli.demo_steps import STEPS, DemoContext
from picops.cli.demo_steps import bookings as step
from picops.cli.output import Output
from picops.config import AwsSettings, Settings

pytestmark = pytest.mark.e2e


def _context(endpoint: str, server_factory: Any) -> DemoContext:
    return DemoContext(
        settings=Settings(aws=AwsSettings(region="us-east-1", endpoint_url=endpoint)),
        factory=server_factory,
        out=Output(),
    )


def test_step_is_part_of_the_demo() -> None:
    assert step.STEP in STEPS


def test_declined_first_booking_passes_the_seat_to_the_second(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    result = step.run(_context(endpoint, server_factory))
    assert result.ok, result.detail
    states = [b["state"] for b in sorted(result.data["bookings"], key=lambda b: b["position"])]
    assert states == ["PAYMENT_FAILED", "PAID", "LOST", "LOST"]
    assert result.data["violations"] == []
    # The same seat as the CLI sees it.
    inspect = cli("bookings", "inspect", "--seat", result.data["seat"], "--json", endpoint=endpoint)
    assert inspect.exit_code == 0, inspect.stderr
    assert [b["charges"] for b in inspect.json()["seats"][0]["bookings"]] == [0, 1, 0, 0]


def test_step_fails_when_nothing_is_consumed(
    cli: Any, endpoint: str, server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    monkeypatch.setattr(step.LocalRuntime, "drain", lambda self: None)
    result = step.run(_context(endpoint, server_factory))
    assert not result.ok
    assert "QUEUED" in result.detail
    # Undelivered bookings on a seat nobody decided are not a violation while the queues hold their messages.
    inspect = cli("bookings", "inspect", "--seat", result.data["seat"], "--json", endpoint=endpoint)
    assert inspect.exit_code == 0, inspect.stderr
    assert {q["logical"]: q["visible"] for q in inspect.json()["queues"]}["PaymentQueue"] == 4
