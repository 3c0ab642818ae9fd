"""`picops tag-backfill` end to end: the real CLI against a threaded moto server."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from picops.aws import ClientFactory
from tests import tagging_support as ts

pytestmark = pytest.mark.e2e
JSON_FIELDS = [
    "source",
    "scanned",
    "tagged",
    "unchanged",
    "pending",
    "missing",
    "failed",
    "requests",
    "elapsed_s",
]


def _arrange(factory: Any) -> Any:
    stack = ts.create_stack(factory)
    keys = ["incoming/a.jpg", "incoming/b.jpg", "incoming/pending.jpg", *ts.ODD_KEYS, "elsewhere/x.jpg"]
    ts.put_objects(
        factory,
        stack.uploads_bucket,
        keys,
        {"incoming/a.jpg": {"owner": "ana"}, "incoming/b.jpg": {ts.TAG_KEY: "approved"}},
    )
    verdicts = dict.fromkeys([k for k in keys if k != "incoming/pending.jpg"], "approved")
    verdicts["incoming/with space.jpg"] = "flagged"
    ts.put_verdicts(factory, stack.moderation_table, verdicts)
    return stack


def test_json_document_and_defaults(cli: Any, endpoint: str, server_factory: Any) -> None:
    stack = _arrange(server_factory)
    r = cli("tag-backfill", "--json", endpoint=endpoint)
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert list(doc) == JSON_FIELDS
    assert doc["source"] == f"s3://{stack.uploads_bucket}/incoming/"
    assert {k: doc[k] for k in JSON_FIELDS[1:7]} == {
        "scanned": 8,
        "tagged": 6,
        "unchanged": 1,
        "pending": 1,
        "missing": 0,
        "failed": 0,
    }
    assert doc["requests"] == {
        "ListObjectsV2": 1,
        "BatchGetItem": 1,
        "GetObjectTagging": 7,
        "PutObjectTagging": 6,
    }
    assert isinstance(doc["elapsed_s"], float)
    assert "target: local endpoint" in r.stderr
    assert ts.tags_of(server_factory, stack.uploads_bucket, "incoming/a.jpg") == {
        "owner": "ana",
        ts.TAG_KEY: "approved",
    }
    assert ts.tags_of(server_factory, stack.uploads_bucket, "incoming/with space.jpg") == {
        ts.TAG_KEY: "flagged"
    }
    assert ts.tags_of(server_factory, stack.uploads_bucket, "elsewhere/x.jpg") == {}


def test_human_output_starts_with_the_target(cli: Any, endpoint: str, server_factory: Any) -> None:
    _arrange(server_factory)
    r = cli("tag-backfill", "--prefix", "", endpoint=endpoint)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("target: local endpoint")
    assert any(line.startswith("scanned") and line.rstrip().endswith("9") for line in lines)


def test_dry_run_writes_nothing_and_report_lists_each_object(
    cli: Any, endpoint: str, server_factory: Any, tmp_path: Path
) -> None:
    stack = _arrange(server_factory)
    report = tmp_path / "out.csv"
    r = cli("tag-backfill", "--dry-run", "--json", "--report", str(report), endpoint=endpoint)
    assert r.exit_code == 0, r.stderr
    assert r.json()["tagged"] == 6
    assert r.json()["requests"]["PutObjectTagging"] == 0
    assert ts.tags_of(server_factory, stack.uploads_bucket, "incoming/a.jpg") == {"owner": "ana"}
    assert not list((tmp_path / ".picops").glob("tag-backfill-*.json"))
    rows = list(csv.reader(report.open(encoding="utf-8")))
    assert rows[0] == ["key", "version", "outcome", "old", "new", "error"]
    by_key = {row[0]: row for row in rows[1:]}
    assert set(by_key) == set(ts.all_tags(server_factory, stack.uploads_bucket, "incoming/"))
    assert by_key["incoming/pending.jpg"][2] == "pending"
    assert by_key["incoming/b.jpg"][2:5] == ["unchanged", "approved", "approved"]
    assert by_key["incoming/ünïcødé-写真.jpg"][2:5] == ["tagged", "", "approved"]


def test_failures_exit_1_with_reasons_in_the_report(
    cli: Any, endpoint: str, server_factory: Any, tmp_path: Path
) -> None:
    stack = ts.create_stack(server_factory)
    ts.put_objects(
        server_factory,
        stack.uploads_bucket,
        ["incoming/full.jpg"],
        {"incoming/full.jpg": {f"t{i}": "v" for i in range(10)}},
    )
    ts.put_verdicts(server_factory, stack.moderation_table, {"incoming/full.jpg": "approved"})
    report = tmp_path / "r.csv"
    r = cli("tag-backfill", "--json", "--report", str(report), endpoint=endpoint)
    assert r.exit_code == 1
    assert r.json()["failed"] == 1
    row = list(csv.reader(report.open()))[1]
    assert row[2] == "failed"
    assert "10 tags" in row[5]


def test_no_overwrite_flag(cli: Any, endpoint: str, server_factory: Any) -> None:
    stack = ts.create_stack(server_factory)
    ts.put_objects(
        server_factory, stack.uploads_bucket, ["incoming/b.jpg"], {"incoming/b.jpg": {ts.TAG_KEY: "flagged"}}
    )
    ts.put_verdicts(server_factory, stack.moderation_table, {"incoming/b.jpg": "rejected"})
    r = cli("tag-backfill", "--no-overwrite", "--json", endpoint=endpoint)
    assert r.json()["unchanged"] == 1
    assert ts.tags_of(server_factory, stack.uploads_bucket, "incoming/b.jpg") == {ts.TAG_KEY: "flagged"}
    r = cli("tag-backfill", "--overwrite", "--json", endpoint=endpoint)
    assert r.json()["tagged"] == 1
    assert ts.tags_of(server_factory, stack.uploads_bucket, "incoming/b.jpg") == {ts.TAG_KEY: "rejected"}


def test_limit_then_resume_with_explicit_state(
    cli: Any, endpoint: str, server_factory: Any, tmp_path: Path
) -> None:
    stack = ts.create_stack(server_factory)
    keys = [f"incoming/k{i:03}.jpg" for i in range(150)]
    ts.put_objects(server_factory, stack.uploads_bucket, keys)
    ts.put_verdicts(server_factory, stack.moderation_table, dict.fromkeys(keys, "approved"))
    state = tmp_path / "job.json"
    r = cli("tag-backfill", "--limit", "40", "--state", str(state), "--json", endpoint=endpoint)
    assert r.exit_code == 0, r.stderr
    assert r.json()["scanned"] == 40
    saved = json.loads(state.read_text())
    assert saved["complete"] is False
    r = cli("tag-backfill", "--resume", "--state", str(state), "--json", endpoint=endpoint)
    assert r.json()["scanned"] == 150
    assert r.json()["tagged"] == 150
    assert json.loads(state.read_text())["complete"] is True


def test_inventory_checksum_mismatch_exits_2(cli: Any, endpoint: str, server_factory: Any) -> None:
    stack = _arrange(server_factory)
    server_factory.client("s3").create_bucket(Bucket="inv")
    rows = [(stack.uploads_bucket, "incoming/a.jpg", "", True, False)]
    url = ts.put_inventory(
        server_factory, "inv", stack.uploads_bucket, [ts.csv_gz(rows)], corrupt_checksum=True
    )
    r = cli("tag-backfill", "--inventory", url, "--json", endpoint=endpoint)
    assert r.exit_code == 2
    assert "manifest.checksum" in r.stderr
    assert r.stdout == ""
    assert ts.tags_of(server_factory, stack.uploads_bucket, "incoming/a.jpg") == {"owner": "ana"}


def test_inventory_source_through_the_cli(cli: Any, endpoint: str, server_factory: Any) -> None:
    stack = _arrange(server_factory)
    server_factory.client("s3").create_bucket(Bucket="inv")
    rows = [(stack.uploads_bucket, k, "", True, False) for k in ts.ODD_KEYS]
    url = ts.put_inventory(server_factory, "inv", stack.uploads_bucket, [ts.csv_gz(rows)])
    r = cli("tag-backfill", "--inventory", url, "--json", endpoint=endpoint)
    assert r.exit_code == 0, r.stderr
    assert r.json()["source"] == url
    assert r.json()["tagged"] == len(ts.ODD_KEYS)
    assert r.json()["requests"]["ListObjectsV2"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "batch-operations"], "needs --inventory"),
        (["--inventory", "s3://b/m/manifest.json", "--bucket", "x"], "drop --bucket"),
        (["--inventory", "not-a-url"], "s3:// URL"),
        (["--concurrency", "0"], "Usage:"),
    ],
)
def test_usage_errors_exit_2(
    cli: Any, endpoint: str, server_factory: Any, args: list[str], message: str
) -> None:
    ts.create_stack(server_factory)
    r = cli("tag-backfill", *args, endpoint=endpoint)
    assert r.exit_code == 2
    assert message in r.stderr


def test_missing_table_exits_3(cli: Any, endpoint: str, server_factory: Any) -> None:
    stack = ts.names(server_factory)
    server_factory.client("s3").create_bucket(Bucket=stack.uploads_bucket)
    ts.put_objects(server_factory, stack.uploads_bucket, ["incoming/a.jpg"])
    r = cli("tag-backfill", "--json", endpoint=endpoint)
    assert r.exit_code == 3
    assert "ResourceNotFound" in r.stderr or "not found" in r.stderr.lower()


# -- S3 Batch Operations (moto has no S3 Control jobs: the requests are checked with Stubber) -----------


@pytest.fixture
def stubbed_s3control(monkeypatch: pytest.MonkeyPatch) -> Any:
    import boto3

    client = boto3.client("s3control", region_name="us-east-1")
    original = ClientFactory.client

    def client_for(self: ClientFactory, service: str, *, concurrency: int = 10) -> Any:
        return client if service == "s3control" else original(self, service, concurrency=concurrency)

    monkeypatch.setattr(ClientFactory, "client", client_for)
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def test_batch_operations_job_request(
    cli: Any, endpoint: str, server_factory: Any, stubbed_s3control: Any
) -> None:
    stack = _arrange(server_factory)
    server_factory.client("s3").create_bucket(Bucket="inv")
    rows = [(stack.uploads_bucket, "incoming/a.jpg", "", True, False)]
    url = ts.put_inventory(server_factory, "inv", stack.uploads_bucket, [ts.csv_gz(rows)])
    etag = server_factory.client("s3").head_object(Bucket="inv", Key=url.split("/", 3)[3])["ETag"].strip('"')
    account = "123456789012"
    stubbed_s3control.add_response(
        "create_job",
        {"JobId": "job-1234"},
        {
            "AccountId": account,
            "ConfirmationRequired": False,
            "Operation": {
                "LambdaInvoke": {
                    "FunctionArn": f"arn:aws:lambda:us-east-1:{account}:function:"
                    "picops-moderation-sweep:batch-operations",
                    "InvocationSchemaVersion": "2.0",
                    "UserArguments": {"overwrite": "true"},
                }
            },
            "Manifest": {
                "Spec": {"Format": "S3InventoryReport_CSV_20161130"},
                "Location": {"ObjectArn": f"arn:aws:s3:::inv/{url.split('/', 3)[3]}", "ETag": etag},
            },
            "Report": {
                "Bucket": f"arn:aws:s3:::{stack.processed_bucket}",
                "Format": "Report_CSV_20180820",
                "Enabled": True,
                "Prefix": "batch-reports/tag-backfill",
                "ReportScope": "AllTasks",
            },
            "ClientRequestToken": ANY,
            "Description": ANY,
            "Priority": 10,
            "RoleArn": f"arn:aws:iam::{account}:role/picops-moderation-batch",
        },
    )
    r = cli("tag-backfill", "--inventory", url, "--engine", "batch-operations", "--json", endpoint=endpoint)
    assert r.exit_code == 0, r.stderr
    assert r.json()["job_id"] == "job-1234"
    # nothing was tagged locally
    assert ts.tags_of(server_factory, stack.uploads_bucket, "incoming/a.jpg") == {"owner": "ana"}


def test_batch_operations_job_status(cli: Any, endpoint: str, stubbed_s3control: Any) -> None:
    job = {
        "JobId": "job-1234",
        "Status": "Complete",
        "ProgressSummary": {"TotalNumberOfTasks": 10, "NumberOfTasksSucceeded": 9, "NumberOfTasksFailed": 1},
        "Report": {"Bucket": "arn:aws:s3:::p", "Prefix": "batch-reports/tag-backfill", "Enabled": True},
    }
    stubbed_s3control.add_response(
        "describe_job", {"Job": job}, {"AccountId": "123456789012", "JobId": "job-1234"}
    )
    r = cli("tag-backfill", "--job-status", "job-1234", "--json", endpoint=endpoint)
    assert r.exit_code == 1
    doc = r.json()
    assert doc["status"] == "Complete"
    assert (doc["total"], doc["succeeded"], doc["failed"]) == (10, 9, 1)


def test_starting_over_an_unfinished_job_warns(cli: Any, endpoint: str, server_factory: Any) -> None:
    stack = ts.create_stack(server_factory)
    ts.put_objects(server_factory, stack.uploads_bucket, ["incoming/a.jpg", "incoming/b.jpg"])
    r = cli("tag-backfill", "--limit", "1", "--json", endpoint=endpoint)
    assert r.exit_code == 0, r.stderr
    assert list(Path(".picops").glob("tag-backfill-*.json"))
    r = cli("tag-backfill", "--json", endpoint=endpoint)
    assert "unfinished run" in r.stderr
    assert r.json()["scanned"] == 2
    r = cli("tag-backfill", "--json", endpoint=endpoint)
    assert "unfinished run" not in r.stderr
