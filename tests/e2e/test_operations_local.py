"""On the local endpoint: the mappings' concurrency settings are recorded for the local runtime, the dashboard
is created in the emulator, and `status` prints no console URL (there is no console)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from picops.aws import ClientFactory
from picops.stack.local_mappings import read_local_mappings


def test_local_provision_records_caps_creates_the_dashboard_and_status_has_no_console_url(
    cli: Any, endpoint: str, server_factory: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = cli("provision", "--yes", "--json", endpoint=endpoint)
    assert result.exit_code == 0, result.stderr

    records = {
        r["logical"]: r["mapping"] for r in read_local_mappings(server_factory.client("ssm"), "picops")
    }
    for logical in ("IngestFunctionMapping", "InventoryFunctionMapping", "PaymentFunctionMapping"):
        assert records[logical]["ScalingConfig"] == {"MaximumConcurrency": 10}, logical
    assert records["ModerationStreamFunctionMapping"]["ParallelizationFactor"] == 1

    body = server_factory.client("cloudwatch").get_dashboard(DashboardName="picops-pipelines")[
        "DashboardBody"
    ]
    assert "AWS/ApiGateway" in body
    assert "${BookingsApi}" not in body
    json.loads(body)

    status = cli("status", "--json", endpoint=endpoint)
    assert status.exit_code == 0, status.stdout
    document = status.json()
    assert document["dashboard_url"] is None
    assert {r["logical"]: r["status"] for r in document["resources"]}["PipelinesDashboard"] == "ok"
    assert "console.aws.amazon.com" not in cli("status", endpoint=endpoint).stdout

    # A changed cap is drift on the recorded mapping: planned as an update of that one field.
    monkeypatch.setenv("PICOPS_INGEST__MAX_CONCURRENCY", "20")
    plan = cli("provision", "--plan", "--json", endpoint=endpoint).json()
    changed = {c["logical"]: c for c in plan["changes"] if c["action"] != "noop"}
    # ...and the functions whose handlers read [ingest] (their environment carries the whole section).
    readers = {"IngestFunction", "ModerationStreamFunction", "ModerationSweepFunction"}
    assert set(changed) == {"IngestFunctionMapping", *readers}
    assert changed["IngestFunctionMapping"]["diff"] == {
        "ScalingConfig": {"live": {"MaximumConcurrency": 10}, "desired": {"MaximumConcurrency": 20}}
    }
