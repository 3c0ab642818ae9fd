"""Safety rails on commands that destroy data or spend money: the one confirmation rule, dry runs, cost
estimates, destroy's progress and exit codes, and `local down`/`local up` telling the truth."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer

from picops.cli.confirm import confirm
from picops.cli.output import Output
from picops.errors import AwsError, UsageError
from tests.dlq_support import counts, fill, make_pair

pytestmark = pytest.mark.e2e
SRC = Path(__file__).parents[2] / "src" / "picops"


# -- the rule itself ----------------------------------------------------------------------------------------


def test_the_rule_lives_in_one_place() -> None:
    """No command keeps a confirmation helper of its own (two used to disagree)."""
    offenders = [
        str(p.relative_to(SRC))
        for p in (SRC / "cli").rglob("*.py")
        if p.name != "confirm.py" and ("def _confirm" in p.read_text() or "typer.confirm(" in p.read_text())
    ]
    assert offenders == []


def test_confirm_refuses_without_a_terminal_or_with_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("picops.cli.confirm.interactive", lambda: False)
    with pytest.raises(UsageError, match="stdin is not a terminal") as refused:
        confirm(Output(), "delete things", yes=False)
    assert refused.value.exit_code == 2
    monkeypatch.setattr("picops.cli.confirm.interactive", lambda: True)
    with pytest.raises(UsageError, match="--json was given"):
        confirm(Output(json_mode=True), "delete things", yes=False)
    confirm(Output(json_mode=True), "delete things", yes=True)  # --yes always proceeds


def test_confirm_asks_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("picops.cli.confirm.interactive", lambda: True)
    answers = iter([False, True])
    asked: list[str] = []

    def fake_confirm(text: str, default: bool, err: bool) -> bool:
        asked.append(text)
        assert default is False
        assert err is True  # the question goes to stderr, never into stdout
        return next(answers)

    monkeypatch.setattr(typer, "confirm", fake_confirm)
    with pytest.raises(typer.Exit) as declined:
        confirm(Output(), "delete things", yes=False)
    assert declined.value.exit_code == 1
    confirm(Output(), "delete things", yes=False)
    assert asked == ["delete things?", "delete things?"]


# -- dlq ----------------------------------------------------------------------------------------------------


def _ingest_dlq(server_factory: Any, n: int) -> tuple[Any, str, str]:
    sqs = server_factory.client("sqs")
    src, _src_arn, dlq, _dlq_arn = make_pair(sqs, "picops-ingest", max_receive=5)
    fill(sqs, dlq, n)
    return sqs, src, dlq


def test_redrive_json_on_a_terminal_refuses_without_yes(
    cli: Any, endpoint: str, server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bug: `dlq redrive --json` on a terminal skipped the question and moved everything."""
    monkeypatch.setattr("picops.cli.confirm.interactive", lambda: True)
    sqs, _src, dlq = _ingest_dlq(server_factory, 4)
    r = cli("dlq", "redrive", "IngestDLQ", "--json", endpoint=endpoint, input="y\n")
    assert r.exit_code == 2, r.stderr
    assert r.stdout == ""
    assert "--yes" in r.stderr
    assert counts(sqs, dlq)[0] == 4
    # Declined on a terminal: exit 1, nothing moved.
    r = cli("dlq", "redrive", "IngestDLQ", "--no-native", endpoint=endpoint, input="n\n")
    assert r.exit_code == 1, r.stderr
    assert "move up to 4 message(s) from picops-ingest-dlq" in r.stderr
    assert counts(sqs, dlq)[0] == 4
    # Without a terminal: refused too.
    monkeypatch.setattr("picops.cli.confirm.interactive", lambda: False)
    assert cli("dlq", "redrive", "IngestDLQ", endpoint=endpoint).exit_code == 2
    assert counts(sqs, dlq)[0] == 4


def test_redrive_reports_a_cost_estimate(cli: Any, endpoint: str, server_factory: Any) -> None:
    _sqs, _src, _dlq = _ingest_dlq(server_factory, 5)
    dry = cli("dlq", "redrive", "IngestDLQ", "--dry-run", "--json", endpoint=endpoint)
    assert dry.exit_code == 0, dry.stderr
    estimate = dry.json()["cost_estimate"]
    assert estimate["count"] == 5
    assert estimate["usd"] == pytest.approx(5 * 3 * 0.4e-6, abs=1e-4)
    assert "cost estimate: 5 messages" in dry.stderr
    capped = cli(
        "dlq", "redrive", "IngestDLQ", "--max", "2", "--no-native", "--yes", "--json", endpoint=endpoint
    )
    assert capped.exit_code == 0, capped.stderr
    assert capped.json()["cost_estimate"]["count"] == 2
    assert capped.json()["moved"] == 2


def test_purge_dry_run_counts_and_deletes_nothing(cli: Any, endpoint: str, server_factory: Any) -> None:
    sqs, _src, dlq = _ingest_dlq(server_factory, 3)
    r = cli("dlq", "purge", "IngestDLQ", "--dry-run", "--json", endpoint=endpoint)
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert doc["dry_run"] is True
    assert doc["would_purge"] == {"visible": 3, "in_flight": 0, "delayed": 0}
    assert doc["name"] == "picops-ingest-dlq"
    assert counts(sqs, dlq)[0] == 3
    human = cli("dlq", "purge", "IngestDLQ", "--dry-run", endpoint=endpoint)
    assert human.exit_code == 0
    assert "would purge picops-ingest-dlq: ~3 visible" in human.stdout
    # The real purge still needs a yes (no terminal here).
    assert cli("dlq", "purge", "IngestDLQ", "--json", endpoint=endpoint).exit_code == 2
    assert counts(sqs, dlq)[0] == 3


# -- destroy ------------------------------------------------------------------------------------------------


def test_destroy_refuses_json_without_yes(cli: Any, endpoint: str) -> None:
    r = cli("destroy", "--json", endpoint=endpoint)
    assert r.exit_code == 2
    assert r.stdout == ""


def test_destroy_delete_data_shows_progress_and_counts(cli: Any, endpoint: str, server_factory: Any) -> None:
    assert cli("provision", "--json", endpoint=endpoint).exit_code == 0
    # The sweep schedule's dead-letter queue is one of the stack's DLQs.
    listed = cli("dlq", "list", "--json", endpoint=endpoint).json()
    assert "SweepDLQ" in {d["logical"] for d in listed["dlqs"]}
    assert listed["missing"] == []
    s3 = server_factory.client("s3")
    bucket = "picops-uploads-123456789012-us-east-1"
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"x/{i}.txt", Body=b"v1")
        s3.put_object(Bucket=bucket, Key=f"x/{i}.txt", Body=b"v2")  # versioned: two versions each
    r = cli("destroy", "--delete-data", "--yes", "--json", endpoint=endpoint)
    assert r.exit_code == 0, r.stderr
    assert f"emptying {bucket}: 6 object version(s)" in r.stderr
    assert r.json()["emptied"][bucket] == 6
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_a_bucket_that_cannot_be_emptied_is_an_aws_failure_exit_3() -> None:
    from picops.provision.kinds import bucket

    class S3:
        def list_object_versions(self, **kwargs: Any) -> dict[str, Any]:
            return {"Versions": [{"Key": "a", "VersionId": "1"}, {"Key": "b", "VersionId": "2"}]}

        def delete_objects(self, **kwargs: Any) -> dict[str, Any]:
            return {"Errors": [{"Key": "b", "Code": "AccessDenied", "Message": "Access Denied"}]}

    seen: list[int] = []

    class Ctx:
        def on_empty(self, name: str, n: int) -> None:
            seen.append(n)

        def client(self, service: str) -> Any:
            return S3()

    with pytest.raises(AwsError) as failed:
        bucket.empty_bucket("bkt", Ctx())  # type: ignore[arg-type]
    assert failed.value.exit_code == 3
    assert "DeleteObjects on bkt" in failed.value.message
    assert "AccessDenied" in failed.value.message
    assert seen == [1]  # progress reported what was deleted before the failure


# -- local --------------------------------------------------------------------------------------------------


def _picops(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "picops", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_local_down_with_a_stale_pid_reports_not_stopped_and_clears_the_record(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    state = tmp_path / ".picops" / "local.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(
        json.dumps({"url": "http://127.0.0.1:1", "pid": gone.pid, "port": 1, "started_at": time.time()})
    )
    r = _picops("local", "down", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["stopped"] is False
    assert doc["stale"] is True
    assert doc["pid"] == gone.pid
    assert not state.exists()
    again = json.loads(_picops("local", "down", "--json").stdout)
    assert again == {"stopped": False, "pid": None, "url": None, "stale": False, "cleared": False}


def test_foreground_local_up_json_prints_its_document(tmp_path: Path) -> None:
    from picops.local.endpoint import free_port, ping

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "picops", "local", "up", "--json", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        doc = None
        while doc is None:  # wait on the observable state: the document, read line by line
            line = proc.stdout.readline()
            assert line, f"local up exited without a document: {proc.stderr.read() if proc.stderr else ''}"
            lines.append(line)
            try:
                doc = json.loads("".join(lines))
            except json.JSONDecodeError:
                continue
        assert doc["url"] == f"http://127.0.0.1:{port}"
        assert doc["running"] is True
        assert doc["foreground"] is True
        assert doc["pid"] == proc.pid
        assert ping(doc["url"])
    finally:
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert out.strip() == "", "nothing but the one document on stdout"
    assert "stopped" in err
