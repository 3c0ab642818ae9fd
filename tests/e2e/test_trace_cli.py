"""`picops trace` on the moto server with the local runtime: a booking after the demo's bookings step, and
a poison upload ingest could not decode."""

from __future__ import annotations

import json
from typing import Any

import pytest

from picops.cli.demo_steps import DemoContext
from picops.cli.demo_steps import bookings as bookings_step
from picops.cli.output import Output
from picops.config import AwsSettings, Settings
from picops.local.runtime import LocalRuntime
from picops.stack.names import StackNames

pytestmark = pytest.mark.e2e


def _context(endpoint: str, server_factory: Any) -> DemoContext:
    return DemoContext(
        settings=Settings(aws=AwsSettings(region="us-east-1", endpoint_url=endpoint)),
        factory=server_factory,
        out=Output(),
    )


def _index(timeline: list[dict[str, Any]], source: str, what: str, booking_id: str | None = None) -> int:
    for n, entry in enumerate(timeline):
        if (
            entry["source"] == source
            and what in entry["what"]
            and booking_id in (None, entry["fields"].get("booking_id"))
        ):
            return n
    raise AssertionError(
        f"no {source} {what!r} for {booking_id} in {[(e['source'], e['what']) for e in timeline]}"
    )


def test_trace_booking_of_the_declined_then_passed_seat_s_second_booking(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    result = bookings_step.run(_context(endpoint, server_factory))
    assert result.ok, result.detail
    first, second = sorted(result.data["bookings"], key=lambda b: b["position"])[:2]

    traced = cli("trace", "booking", second["booking_id"], "--json", endpoint=endpoint)
    assert traced.exit_code == 0, traced.stdout
    doc = traced.json()
    timeline = doc["timeline"]
    times = [e["timestamp"] for e in timeline]
    assert times == sorted(times)
    accepted = _index(timeline, "BookingApiFunction", "booking accepted", second["booking_id"])
    advanced = _index(timeline, "InventoryFunction", "seat advanced", second["booking_id"])
    settled = _index(timeline, "PaymentFunction", "seat settled")
    declined = _index(timeline, "BookingsTable", "charge DECLINED", first["booking_id"])
    approved = _index(timeline, "BookingsTable", "charge APPROVED", second["booking_id"])
    assert accepted < declined < approved
    assert accepted < advanced
    assert accepted < settled
    assert doc["verdict"] == "charged once; seat SOLD to this booking"
    assert doc["ok"] is True
    # No X-Ray locally: no ids, and a note that says so.
    assert doc["xray_trace_ids"] == []
    assert "local endpoint" in doc["xray_note"]

    # The first booking's own trace is a failure, and says why (exit 1 for scripts).
    failed = cli("trace", "booking", first["booking_id"], "--json", endpoint=endpoint)
    assert failed.exit_code == 1
    assert failed.json()["verdict"].startswith("FAILED: payment declined")

    # Every function's lines about the booking, interleaved by time (what trace reads, unjudged).
    lines = cli(
        "logs",
        "--all",
        "--filter",
        f"booking_id={second['booking_id']}",
        "--since",
        "1h",
        "--json",
        endpoint=endpoint,
    )
    assert lines.exit_code == 0, lines.stderr
    events = [json.loads(line) for line in lines.stdout.splitlines()]
    assert {e["function"] for e in events} == {"BookingApiFunction", "InventoryFunction", "PaymentFunction"}
    assert all(e["fields"]["booking_id"] == second["booking_id"] for e in events)
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)

    human = cli("trace", "seat", f"{bookings_step.EVENT}/{result.data['seat']}", endpoint=endpoint)
    assert human.exit_code == 0, human.stderr
    assert (
        human.stdout.strip().splitlines()[-1]
        == f"verdict: charged once; seat SOLD to booking {second['booking_id']}"
    )


def test_trace_object_of_a_poison_upload_ends_with_its_failed_reason(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    ctx = _context(endpoint, server_factory)
    names = StackNames(ctx.settings, server_factory.account_id(), server_factory.region)
    key = f"{ctx.settings.ingest.prefix}trace/poison photo.jpg"
    s3 = server_factory.client("s3")
    s3.put_object(Bucket=names.uploads_bucket, Key=key, Body=b"\xff\xd8\xff\xe0 not really a JPEG")
    runtime = LocalRuntime(server_factory, ctx.settings)
    try:
        runtime.prepare()
        runtime.drain()
    finally:
        runtime.close()

    # A copy of its S3 event left in IngestDLQ (as a consumer that gave up would leave it): the trace
    # lists it, and leaves it there.
    sqs = server_factory.client("sqs")
    dlq = sqs.get_queue_url(QueueName=names.physical("IngestDLQ"))["QueueUrl"]
    event = {
        "Records": [
            {"s3": {"bucket": {"name": names.uploads_bucket}, "object": {"key": key.replace(" ", "+")}}}
        ]
    }
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(event))

    traced = cli("trace", "object", key, "--json", endpoint=endpoint)
    assert traced.exit_code == 1, traced.stderr
    doc = traced.json()
    job = doc["state"]["jobs"][0]
    assert job["status"] == "FAILED"
    assert doc["verdict"] == f"FAILED: {job['reason']}"
    sources = [e["source"] for e in doc["timeline"]]
    assert sources[0] == "UploadsBucket"
    assert "IngestFunction" in sources
    assert any(e["what"].startswith("ingest job FAILED") for e in doc["timeline"])
    (left,) = [e for e in doc["timeline"] if e["source"] == "IngestDLQ"]
    assert left["fields"]["receive_count"] == 0
    assert (
        sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
        == "1"
    )

    missing = cli("trace", "object", f"{key}.nothing", endpoint=endpoint)
    assert missing.exit_code == 3
    assert "no object" in missing.stderr
