"""A DLQ's redrive schedule on the local stack: `picops local run` fires it, and what the DLQ held goes back
to its source queue and is consumed, under strict local mode (DlqRedriveFunction's own role)."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

PERIOD_S = 2


def test_the_redrive_schedule_returns_the_dlq_to_its_source_on_the_local_stack(
    cli: Any, endpoint: str, server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICOPS_DLQ__INGESTDLQ__AUTO_REDRIVE_EVERY", f"{PERIOD_S}s")
    provisioned = cli("provision", "--yes", "--json", endpoint=endpoint)
    assert provisioned.exit_code == 0, provisioned.stderr
    from picops.config import Settings
    from picops.stack.names import StackNames

    names = StackNames(Settings(), server_factory.account_id(), server_factory.region)
    sqs = server_factory.client("sqs")
    dlq = names.queue_url("IngestDLQ", endpoint)
    # Not an S3 notification: IngestFunction acknowledges it as unrecognised once it is back on IngestQueue.
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"note": "failed while the bucket was missing"}))

    run = cli(
        "local", "run", "--duration", str(PERIOD_S + 4), "--sweep-every", "0", "--json", endpoint=endpoint
    )
    assert run.exit_code == 0, run.stdout + run.stderr
    schedules = {s["rule"]: s for s in run.json()["schedules"]}
    redrive = schedules["IngestDLQRedriveSchedule"]
    assert (redrive["errors"], redrive["detail"]) == (0, "")
    assert redrive["runs"] >= 1

    def count(logical: str) -> int:
        attrs = sqs.get_queue_attributes(
            QueueUrl=names.queue_url(logical, endpoint),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    # The schedule moved it back (a redrive run holds the runtime's one thread while it drains the DLQ, so
    # the consumer may meet it only in the next run).
    assert count("IngestDLQ") == 0
    settled = cli("local", "run", "--until-idle", "--sweep-every", "0", "--json", endpoint=endpoint)
    assert settled.exit_code == 0, settled.stdout + settled.stderr
    assert (count("IngestDLQ"), count("IngestQueue")) == (0, 0)
