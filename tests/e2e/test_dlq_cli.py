"""`picops dlq` end to end: the real CLI against a threaded moto server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.dlq_support import counts, drain, fast_moto_clock, fill, make_pair, seqs

__all__ = ["fast_moto_clock"]
pytestmark = pytest.mark.e2e

REDRIVE_KEYS = {"source", "destination", "mode", "moved", "skipped", "failed", "archive"}


def _ingest_pair(sqs: Any) -> tuple[str, str]:
    """IngestQueue/IngestDLQ under the default stack's physical names, with a redrive policy."""
    src, _src_arn, dlq, _dlq_arn = make_pair(sqs, "picops-ingest", max_receive=5)
    return src, dlq


def test_list_shows_the_stack_dlq_with_sources_and_counts(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    sqs = server_factory.client("sqs")
    _src, dlq = _ingest_pair(sqs)
    fill(sqs, dlq, 3)
    result = cli("dlq", "list", "--json", endpoint=endpoint)
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    (row,) = doc["dlqs"]
    assert (row["name"], row["logical"], row["visible"], row["in_flight"]) == (
        "picops-ingest-dlq",
        "IngestDLQ",
        3,
        0,
    )
    assert row["sources"][0]["name"] == "picops-ingest"
    assert row["sources"][0]["max_receive_count"] == 5
    assert "InventoryDLQ" in doc["missing"]
    all_rows = cli("dlq", "list", "--all", "--json", endpoint=endpoint).json()["dlqs"]
    assert [r["name"] for r in all_rows] == ["picops-ingest-dlq"]
    human = cli("dlq", "list", endpoint=endpoint)
    assert human.exit_code == 0, human.stderr
    assert human.stdout.startswith("target: local endpoint")
    assert "Dead-letter queues" in human.stdout
    assert "picops-ingest" in human.stdout


def test_list_all_skips_queues_outside_the_operator_policy(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    # Another team's queue pair in the same region: the stack's operator policy may not read it (strict
    # local mode refuses as AWS would), so --all lists what it can and names what it skipped.
    sqs = server_factory.client("sqs")
    _ingest_pair(sqs)
    _src, _src_arn, other, _other_arn = make_pair(sqs, "billing-team")
    result = cli("dlq", "list", "--all", "--json", endpoint=endpoint)
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert [r["name"] for r in doc["dlqs"]] == ["picops-ingest-dlq"]
    assert other in doc["unreadable"]
    assert len(doc["unreadable"]) == 2
    assert "skipped 2 queue(s) this identity may not read" in result.stderr


def test_peek_leaves_messages_in_the_queue(cli: Any, endpoint: str, server_factory: Any) -> None:
    sqs = server_factory.client("sqs")
    _src, dlq = _ingest_pair(sqs)
    fill(sqs, dlq, 4)
    result = cli("dlq", "peek", dlq, "-n", "3", "--json", endpoint=endpoint)  # by URL
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["count"] == 3
    first = doc["messages"][0]
    assert set(first) >= {"message_id", "sent_at", "receive_count", "group_id", "message_attributes", "body"}
    assert first["message_attributes"]["tenant"].startswith("t")
    assert "receive count" in result.stderr
    assert counts(sqs, dlq) == (4, 0)  # visible again at once
    human = cli("dlq", "peek", dlq, "-n", "1", endpoint=endpoint)
    assert human.exit_code == 0, human.stderr
    assert "attribute tenant" in human.stdout
    assert "{'" not in human.stdout  # attributes are lines, not a Python dict


def test_redrive_json_contract_and_dry_run(cli: Any, endpoint: str, server_factory: Any) -> None:
    sqs = server_factory.client("sqs")
    src, dlq = _ingest_pair(sqs)
    fill(sqs, dlq, 25)
    dry = cli("dlq", "redrive", "IngestDLQ", "--dry-run", "--json", endpoint=endpoint)
    assert dry.exit_code == 0, dry.stderr
    assert dry.json()["moved"] == 0
    assert dry.json()["would_move"] == 25
    assert counts(sqs, dlq) == (25, 0)
    assert counts(sqs, src) == (0, 0)

    result = cli("dlq", "redrive", "IngestDLQ", "--yes", "--json", endpoint=endpoint)
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert set(doc) >= REDRIVE_KEYS
    assert doc["mode"] == "manual"  # the local endpoint has no move-task API, even with --native (default)
    assert (doc["moved"], doc["skipped"], doc["failed"], doc["archive"]) == (25, 0, 0, None)
    assert doc["source"].endswith(":picops-ingest-dlq")
    assert doc["destination"].endswith(":picops-ingest")
    assert counts(sqs, dlq) == (0, 0)
    assert sorted(seqs(drain(sqs, src))) == list(range(25))


@pytest.mark.usefixtures("iam_off")
def test_fifo_redrive_by_arn_with_filter_and_archive(
    cli: Any, endpoint: str, server_factory: Any, fast_moto_clock: None, tmp_path: Path
) -> None:
    sqs = server_factory.client("sqs")
    src, _src_arn, dlq, dlq_arn = make_pair(sqs, "book", fifo=True)
    fill(sqs, dlq, 40, fifo=True, groups=3)
    archive = tmp_path / "moved.jsonl"
    result = cli(
        "dlq", "redrive", dlq_arn, "--filter", "message_attributes.tenant != 't2'", "--archive", str(archive),
        "--yes", "--json", endpoint=endpoint,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["archive"] == str(archive)
    moved = drain(sqs, src)
    assert doc["moved"] == len(moved) > 0
    for group in {m.group_id for m in moved}:
        order = [s for m, s in zip(moved, seqs(moved), strict=True) if m.group_id == group]
        assert order == sorted(order)
    assert all(int(m.message_attributes["seq"]["StringValue"]) % 3 != 2 for m in moved)
    assert len(archive.read_text().splitlines()) == doc["moved"]
    # Everything not moved is still in the DLQ, visible.
    assert counts(sqs, dlq)[0] == 40 - doc["moved"]


@pytest.mark.usefixtures("iam_off")
def test_fifo_peek_shows_group_and_dedup_ids_and_leaves_messages(
    cli: Any, endpoint: str, server_factory: Any, fast_moto_clock: None
) -> None:
    # Kept apart from the redrive-order test: after messages are made visible again with
    # ChangeMessageVisibility 0, moto's FIFO receive can skip a group whose earlier message it has not yet
    # re-scanned and hand out a later one first (real SQS unlocks the group at once).
    sqs = server_factory.client("sqs")
    _src, _src_arn, dlq, _dlq_arn = make_pair(sqs, "peekq", fifo=True)
    fill(sqs, dlq, 12, fifo=True, groups=3)
    peeked = cli("dlq", "peek", "peekq-dlq.fifo", "-n", "5", "--full", "--json", endpoint=endpoint)
    assert peeked.exit_code == 0, peeked.stderr
    messages = peeked.json()["messages"]
    assert len(messages) == 5
    assert {m["group_id"] for m in messages} <= {"g0", "g1", "g2"}
    assert all(m["group_id"] and m["dedup_id"] for m in messages)
    assert counts(sqs, dlq) == (12, 0)


def test_unknown_queue_exits_3_naming_it(cli: Any, endpoint: str) -> None:
    result = cli("dlq", "redrive", "no-such-dlq", "--yes", endpoint=endpoint)
    assert result.exit_code == 3
    assert "no-such-dlq" in result.stderr
    peek = cli("dlq", "peek", "IngestDLQ", endpoint=endpoint)
    assert peek.exit_code == 3
    assert "picops-ingest-dlq" in peek.stderr


@pytest.mark.usefixtures("iam_off")
def test_fifo_standard_mismatch_exits_2(cli: Any, endpoint: str, server_factory: Any) -> None:
    sqs = server_factory.client("sqs")
    make_pair(sqs, "mm", fifo=True)
    sqs.create_queue(QueueName="plain")
    fill(sqs, sqs.get_queue_url(QueueName="mm-dlq.fifo")["QueueUrl"], 2, fifo=True)
    result = cli("dlq", "redrive", "mm-dlq.fifo", "--to", "plain", "--yes", endpoint=endpoint)
    assert result.exit_code == 2
    assert "FIFO" in result.stderr
    assert "standard" in result.stderr
    assert counts(sqs, sqs.get_queue_url(QueueName="plain")["QueueUrl"]) == (0, 0)


def test_purge_with_archive_then_replay(cli: Any, endpoint: str, server_factory: Any, tmp_path: Path) -> None:
    sqs = server_factory.client("sqs")
    src, dlq = _ingest_pair(sqs)
    fill(sqs, dlq, 12)
    refused = cli("dlq", "purge", "IngestDLQ", endpoint=endpoint)
    assert refused.exit_code == 2
    assert counts(sqs, dlq) == (12, 0)

    archive = tmp_path / "purged.jsonl"
    purged = cli("dlq", "purge", "IngestDLQ", "--yes", "--archive", str(archive), "--json", endpoint=endpoint)
    assert purged.exit_code == 0, purged.stderr
    assert purged.json()["purged"] == 12
    assert counts(sqs, dlq) == (0, 0)

    dry = cli("dlq", "replay", str(archive), "--to", "IngestQueue", "--dry-run", "--json", endpoint=endpoint)
    assert dry.json()["total"] == 12
    assert counts(sqs, src) == (0, 0)
    replayed = cli("dlq", "replay", str(archive), "--to", "IngestQueue", "--json", endpoint=endpoint)
    assert replayed.exit_code == 0, replayed.stderr
    assert replayed.json()["sent"] == 12
    back = drain(sqs, src)
    assert sorted(seqs(back)) == list(range(12))
    assert all(m.message_attributes["blob"]["DataType"] == "Binary" for m in back)


def test_purge_without_archive_uses_purge_queue(cli: Any, endpoint: str, server_factory: Any) -> None:
    sqs = server_factory.client("sqs")
    _src, dlq = _ingest_pair(sqs)
    fill(sqs, dlq, 5)
    result = cli("dlq", "purge", "IngestDLQ", "--yes", "--json", endpoint=endpoint)
    assert result.exit_code == 0, result.stderr
    assert result.json()["mode"] == "purge_queue"
    assert counts(sqs, dlq) == (0, 0)


@pytest.mark.usefixtures("iam_off")
@pytest.mark.slow
def test_killed_mid_run_loses_nothing(
    endpoint: str, server_factory: Any, fast_moto_clock: None, cli: Any
) -> None:
    """SIGKILL a real `python -m picops dlq redrive` twice mid-run: count in = count out, and at most one
    batch per kill is duplicated."""
    sqs = server_factory.client("sqs")
    src, _src_arn, dlq, _dlq_arn = make_pair(sqs, "kill")
    total = 200
    fill(sqs, dlq, total)
    argv = [
        sys.executable, "-m", "picops", "--endpoint-url", endpoint, "dlq", "redrive", "kill-dlq",
        "--no-native", "--yes", "--json", "--rate", "60", "--visibility-timeout", "2",
    ]  # fmt: skip
    kills = 0
    for threshold in (30, 90):
        proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ)
        )
        deadline = time.monotonic() + 60
        while counts(sqs, src)[0] < threshold and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the redrive finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        time.sleep(2.2)  # the killed run's in-flight batch becomes visible again
    final = cli("dlq", "redrive", "kill-dlq", "--no-native", "--yes", "--json", endpoint=endpoint)
    assert final.exit_code == 0, final.stderr
    assert counts(sqs, dlq) == (0, 0)
    delivered = seqs(drain(sqs, src))
    assert set(delivered) == set(range(total))
    duplicates = sum(n - 1 for n in Counter(delivered).values())
    assert duplicates <= 10 * kills


@pytest.mark.usefixtures("iam_off")
def test_ctrl_c_finishes_the_batch_in_flight_and_exits_130(
    endpoint: str, server_factory: Any, fast_moto_clock: None
) -> None:
    sqs = server_factory.client("sqs")
    src, _src_arn, dlq, _dlq_arn = make_pair(sqs, "intr")
    fill(sqs, dlq, 100)
    argv = [
        sys.executable, "-m", "picops", "--endpoint-url", endpoint, "dlq", "redrive", "intr-dlq",
        "--yes", "--json", "--rate", "40",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    deadline = time.monotonic() + 60
    while counts(sqs, src)[0] < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr.decode()
    doc = json.loads(stdout)
    assert doc["stopped"] == "interrupted"
    # The batch in flight was finished: every message is in exactly one of the two queues.
    assert counts(sqs, src) == (doc["moved"], 0)
    assert counts(sqs, dlq) == (100 - doc["moved"], 0)
