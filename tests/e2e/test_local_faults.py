"""Bookings under faults: `picops local run --faults ... --seed 7` with MaximumConcurrency 5 (docs/local.md).

200 bookings race for 20 seats through the local API while the runtime duplicates, throttles and crashes
batches; afterwards `bookings inspect` finds no violation (one PAID booking and one charge per sold seat),
and the run's summary shows the faults happened and invocations ran concurrently.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from picops.local.endpoint import free_port
from tests.e2e.test_bookings_local import _drained, _wait

pytestmark = pytest.mark.e2e

SEATS = 20
BOOKINGS = 200
FAULTS = "duplicate=0.1,crash=0.05,throttle=0.05"


def test_200_bookings_over_20_seats_under_faults_keep_every_invariant(
    cli: Any, endpoint: str, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICOPS_BOOKINGS__MAX_CONCURRENCY", "5")
    provisioned = cli("provision", "--yes", "--json", endpoint=endpoint)
    assert provisioned.exit_code == 0, provisioned.stderr
    port = free_port()
    args = ["--api-port", str(port), "--faults", FAULTS, "--seed", "7", "--json"]
    with (isolated_env / "local-run.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "picops", "--endpoint-url", endpoint, "local", "run", *args],
            stdout=subprocess.PIPE,
            stderr=log,
            env={**os.environ},
        )
        try:
            record = isolated_env / ".picops" / "local-api.json"
            _wait(lambda: record.exists() and json.loads(record.read_text()).get("url"), "the API", proc)
            _book_all(f"http://127.0.0.1:{port}")
            doc = _wait(lambda: _drained(cli, endpoint), "the queues to drain", proc)
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert doc["violations"] == [], doc["violations"]
    assert doc["exit_code"] == 0
    seats = doc["seats"]
    assert len(seats) == SEATS
    assert sum(len(s["bookings"]) for s in seats) == BOOKINGS
    assert all(sum(b["state"] == "PAID" for b in s["bookings"]) == 1 for s in seats)
    summary = json.loads(out)
    c = summary["concurrency"]
    assert c["max"] > 1, c
    assert c["throttles"] > 0, c
    assert c["crashes"] > 0, c
    assert c["retries"] > 0, c
    assert summary["faults"]["seed"] == 7
    assert summary["faults"].get("duplicate", 0) > 0, summary["faults"]


def _book_all(url: str) -> None:
    from picops.cli.bookings import call_api

    def book(i: int) -> int:
        body = {
            "event_id": "gala",
            "seat_id": f"S{i % SEATS}",
            "customer_id": f"c{i}",
            "payment_token": "tok_visa",
        }
        for _ in range(5):
            status = call_api(url, "POST", "/bookings", body)[0]
            # moto's server can fail a TransactWriteItems racing another write to the table (its rollback
            # copy of the table changes under it) before anything is written: the client tries again.
            if status != 500:
                return status
        return status

    # Two at a time: BookingApiFunction runs concurrently, and bookings arrive spread out so the consumers
    # see many small batches (many draws).
    with ThreadPoolExecutor(2) as pool:
        statuses = list(pool.map(book, range(BOOKINGS)))
    assert statuses == [202] * BOOKINGS


# Four bookings make few batches: rates high enough that each kind of fault lands on them.
DEMO_FAULTS = "duplicate=0.5,crash=0.3,throttle=0.3"


def test_the_demo_bookings_step_holds_its_checks_under_faults(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    from picops.cli.demo_steps import DemoContext
    from picops.cli.demo_steps import bookings as step
    from picops.cli.output import Output
    from picops.config import AwsSettings, Settings
    from picops.local.faults import parse_faults

    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    ctx = DemoContext(
        settings=Settings(aws=AwsSettings(region="us-east-1", endpoint_url=endpoint)),
        factory=server_factory,
        out=Output(),
        faults=parse_faults(DEMO_FAULTS, seed=7),
    )
    result = step.run(ctx)
    # The declined first booking passes the seat to the second, charged once; inspect finds no violation.
    assert result.ok, result.detail
    assert result.data["violations"] == []
    faults = result.data["faults"]
    assert faults["seed"] == 7
    assert faults.get("duplicate", 0) > 0, faults
    assert faults.get("crash", 0) > 0, faults
