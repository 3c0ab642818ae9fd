"""`picops tag-backfill` end to end: the real CLI against a threaded moto server."""

from __future__ import annotations

import csv
import hashlib
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
    "skipped_by_ledger",
    "requests",
    "ledger",
    "elapsed_s",
    "cost_estimate",
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
    assert {k: doc[k] for k in JSON_FIELDS[1:8]} == {
        "scanned": 8,
        "tagged": 6,
        "unchanged": 1,
        "pending": 1,
        "missing": 0,
        "failed": 0,
        "skipped_by_ledger": 0,
    }
    # One BatchGetItem for the verdicts, one for the tag ledger; the 7 entries in one BatchWriteItem.
    assert doc["requests"] == {
        "ListObjectsV2": 1,
        "BatchGetItem": 2,
        "GetObjectTagging": 7,
        "PutObjectTagging": 6,
        "BatchWriteItem": 1,
    }
    assert doc["ledger"]["table"] == stack.jobs_table
    assert (doc["ledger"]["written"], doc["ledger"]["verify"]) == (7, False)
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


def test_second_run_skips_by_ledger_and_verify_reads_everything(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    stack = _arrange(server_factory)
    assert cli("tag-backfill", "--json", endpoint=endpoint).exit_code == 0
    # Someone removes a tag by hand: the ledger cannot know.
    server_factory.client("s3").put_object_tagging(
        Bucket=stack.uploads_bucket,
        Key="incoming/a.jpg",
        Tagging={"TagSet": [{"Key": "owner", "Value": "ana"}]},
    )
    again = cli("tag-backfill", "--json", endpoint=endpoint)
    assert again.exit_code == 0, again.stderr
    doc = again.json()
    assert (doc["skipped_by_ledger"], doc["unchanged"], doc["tagged"]) == (7, 7, 0)
    assert doc["requests"]["GetObjectTagging"] == 0
    assert doc["requests"]["BatchWriteItem"] == 0
    verified = cli("tag-backfill", "--verify", "--json", endpoint=endpoint)
    assert verified.exit_code == 0, verified.stderr
    vdoc = verified.json()
    assert (vdoc["skipped_by_ledger"], vdoc["tagged"], vdoc["unchanged"]) == (0, 1, 6)
    assert vdoc["requests"]["GetObjectTagging"] == 7
    assert vdoc["ledger"]["verify"] is True
    assert ts.tags_of(server_factory, stack.uploads_bucket, "incoming/a.jpg") == {
        "owner": "ana",
        ts.TAG_KEY: "approved",
    }
    human = cli("tag-backfill", endpoint=endpoint)
    assert human.exit_code == 0, human.stderr
    assert any(
        line.startswith("skipped by ledger") and " 7 " in f"{line} " for line in human.stdout.splitlines()
    )


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


@pytest.mark.usefixtures("iam_off")
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


def test_inventory_source_through_the_cli(
    cli: Any, endpoint: str, server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The inventory bucket is configured, so the operator policy (enforced locally) may read its reports.
    monkeypatch.setenv("PICOPS_MODERATION__INVENTORY_BUCKET", "inv")
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
        (["--concurrency", "0"], "Invalid value for '--concurrency'"),
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


def _batch_inventory(factory: Any, bucket: str = "inv", source: str | None = None) -> tuple[Any, str, str]:
    """The stack with objects, and an inventory of UploadsBucket (or `source`) in `bucket`."""
    stack = _arrange(factory)
    factory.client("s3").create_bucket(Bucket=bucket)
    rows = [(source or stack.uploads_bucket, "incoming/a.jpg", "", True, False)]
    url = ts.put_inventory(factory, bucket, source or stack.uploads_bucket, [ts.csv_gz(rows)])
    etag = factory.client("s3").head_object(Bucket=bucket, Key=url.split("/", 3)[3])["ETag"].strip('"')
    return stack, url, etag


def _create_job_params(
    stack: Any, url: str, etag: str, *, function_arn: str, role_arn: str
) -> dict[str, Any]:
    return {
        "AccountId": ACCOUNT,
        "ConfirmationRequired": False,
        "Operation": {
            "LambdaInvoke": {
                "FunctionArn": function_arn,
                "InvocationSchemaVersion": "2.0",
                "UserArguments": {"overwrite": "true"},
            }
        },
        "Manifest": {
            "Spec": {"Format": "S3InventoryReport_CSV_20161130"},
            "Location": {"ObjectArn": f"arn:aws:s3:::{url[5:]}", "ETag": etag},
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
        "RoleArn": role_arn,
    }


ACCOUNT = "123456789012"
SWEEP_LIVE = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:picops-moderation-sweep:live"
STACK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/picops-moderation-batch-us-east-1"


@pytest.mark.usefixtures("iam_off")
def test_batch_operations_job_request(
    cli: Any,
    endpoint: str,
    server_factory: Any,
    stubbed_s3control: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PICOPS_MODERATION__INVENTORY_BUCKET", "inv")
    stack, url, etag = _batch_inventory(server_factory)
    # The job invokes the sweeper's `live` alias (provision/deploy keep it) with the stack's batch role.
    stubbed_s3control.add_response(
        "create_job",
        {"JobId": "job-1234"},
        _create_job_params(stack, url, etag, function_arn=SWEEP_LIVE, role_arn=STACK_ROLE),
    )
    r = cli(
        "tag-backfill",
        "--inventory",
        url,
        "--engine",
        "batch-operations",
        "--yes",
        "--json",
        endpoint=endpoint,
    )
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert doc["job_id"] == "job-1234"
    assert (doc["function_arn"], doc["role_arn"]) == (SWEEP_LIVE, STACK_ROLE)
    # nothing was tagged locally
    assert ts.tags_of(server_factory, stack.uploads_bucket, "incoming/a.jpg") == {"owner": "ana"}


@pytest.mark.usefixtures("iam_off")
def test_batch_operations_overrides_function_and_role(
    cli: Any, endpoint: str, server_factory: Any, stubbed_s3control: Any
) -> None:
    # Another role: its grants are its owner's business, so no inventory_bucket is needed; another
    # function may tag other buckets, so the inventory's source bucket is not checked either.
    stack, url, etag = _batch_inventory(server_factory, source="someone-elses-bucket")
    function = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:my-tagger:prod"
    role = f"arn:aws:iam::{ACCOUNT}:role/my-batch-role"
    stubbed_s3control.add_response(
        "create_job",
        {"JobId": "job-5678"},
        _create_job_params(stack, url, etag, function_arn=function, role_arn=role),
    )
    r = cli(
        "tag-backfill",
        "--inventory",
        url,
        "--engine",
        "batch-operations",
        "--function-arn",
        function,
        "--role-arn",
        role,
        "--yes",
        "--json",
        endpoint=endpoint,
    )
    assert r.exit_code == 0, r.stderr
    assert r.json()["job_id"] == "job-5678"


@pytest.mark.usefixtures("iam_off")
@pytest.mark.parametrize(
    ("inventory_bucket", "source", "message"),
    [
        (None, None, "[moderation] inventory_bucket is not set"),
        ("other-inventory", None, "may read only [moderation] inventory_bucket = 'other-inventory'"),
        ("inv", "someone-elses-bucket", "ModerationSweepFunction tags only UploadsBucket"),
    ],
)
def test_batch_operations_refuses_a_job_the_stack_role_cannot_run(
    cli: Any,
    endpoint: str,
    server_factory: Any,
    stubbed_s3control: Any,
    monkeypatch: pytest.MonkeyPatch,
    inventory_bucket: str | None,
    source: str | None,
    message: str,
) -> None:
    if inventory_bucket:
        monkeypatch.setenv("PICOPS_MODERATION__INVENTORY_BUCKET", inventory_bucket)
    _, url, _ = _batch_inventory(server_factory, source=source)
    for extra in ([], ["--dry-run"]):
        r = cli("tag-backfill", "--inventory", url, "--engine", "batch-operations", *extra, endpoint=endpoint)
        assert r.exit_code == 2, r.stderr
        assert message in r.stderr
        assert "would create" not in r.stdout
    # (the Stubber fails the test if any CreateJob request was made)


@pytest.mark.usefixtures("iam_off")
def test_batch_operations_refuses_data_files_outside_the_readable_bucket(
    cli: Any,
    endpoint: str,
    server_factory: Any,
    stubbed_s3control: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PICOPS_MODERATION__INVENTORY_BUCKET", "inv")
    _, url, _ = _batch_inventory(server_factory)
    # Move the manifest's data files to another bucket (the manifest's destinationBucket says where).
    s3 = server_factory.client("s3")
    key = url.split("/", 3)[3]
    manifest = json.loads(s3.get_object(Bucket="inv", Key=key)["Body"].read())
    manifest["destinationBucket"] = "arn:aws:s3:::inv-data"
    body = json.dumps(manifest).encode()
    s3.put_object(Bucket="inv", Key=key, Body=body)
    checksum_key = key.rsplit("/", 1)[0] + "/manifest.checksum"
    s3.put_object(Bucket="inv", Key=checksum_key, Body=hashlib.md5(body).hexdigest().encode())
    r = cli("tag-backfill", "--inventory", url, "--engine", "batch-operations", endpoint=endpoint)
    assert r.exit_code == 2, r.stderr
    assert "data files are in bucket 'inv-data'" in r.stderr
    assert "pass --role-arn with a role that may read both buckets" in r.stderr  # the flag, not the field


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


def _three_object_inventory(factory: Any) -> tuple[Any, str, str]:
    stack = _arrange(factory)
    factory.client("s3").create_bucket(Bucket="inv")
    rows = [(stack.uploads_bucket, f"incoming/{k}.jpg", "", True, False) for k in ("a", "b", "c")]
    url = ts.put_inventory(factory, "inv", stack.uploads_bucket, [ts.csv_gz(rows)])
    etag = factory.client("s3").head_object(Bucket="inv", Key=url.split("/", 3)[3])["ETag"].strip('"')
    return stack, url, etag


@pytest.mark.usefixtures("iam_off")
def test_batch_operations_shows_count_and_cost_and_asks_first(
    cli: Any,
    endpoint: str,
    server_factory: Any,
    stubbed_s3control: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A billable job is never created without a yes: on a terminal it asks (showing the object count and
    the estimated cost); declined, nothing is created; --json or no terminal refuses unless --yes."""
    monkeypatch.setenv("PICOPS_MODERATION__INVENTORY_BUCKET", "inv")
    stack, url, etag = _three_object_inventory(server_factory)
    args = ("tag-backfill", "--inventory", url, "--engine", "batch-operations")
    # No terminal (CliRunner's stdin), and --json: refused, exit 2, no CreateJob (the Stubber has none).
    for extra in ([], ["--json"]):
        r = cli(*args, *extra, endpoint=endpoint)
        assert r.exit_code == 2, r.stderr
        assert "--yes" in r.stderr
        assert "cost estimate: 3 objects" in r.stderr
    monkeypatch.setattr("picops.cli.confirm.interactive", lambda: True)
    declined = cli(*args, endpoint=endpoint, input="n\n")
    assert declined.exit_code == 1, declined.stderr
    assert "create a billable S3 Batch Operations job over 3 objects (about $0.25)" in declined.stderr
    # --json on a terminal still never asks.
    r = cli(*args, "--json", endpoint=endpoint, input="y\n")
    assert r.exit_code == 2, r.stderr
    stubbed_s3control.add_response(
        "create_job",
        {"JobId": "job-42"},
        _create_job_params(stack, url, etag, function_arn=SWEEP_LIVE, role_arn=STACK_ROLE),
    )
    accepted = cli(*args, endpoint=endpoint, input="y\n")
    assert accepted.exit_code == 0, accepted.stderr
    assert "created S3 Batch Operations job job-42" in accepted.stdout


@pytest.mark.usefixtures("iam_off")
def test_batch_operations_dry_run_prints_the_job_request_and_the_estimate(
    cli: Any,
    endpoint: str,
    server_factory: Any,
    stubbed_s3control: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PICOPS_MODERATION__INVENTORY_BUCKET", "inv")
    _, url, _ = _three_object_inventory(server_factory)
    args = ("tag-backfill", "--inventory", url, "--engine", "batch-operations", "--dry-run")
    human = cli(*args, endpoint=endpoint)
    assert human.exit_code == 0, human.stderr
    assert '"LambdaInvoke"' in human.stdout
    assert SWEEP_LIVE in human.stdout
    assert "(3 objects)" in human.stdout
    doc = cli(*args, "--json", endpoint=endpoint).json()
    assert doc["dry_run"] is True
    assert doc["objects"] == 3
    assert doc["create_job"]["RoleArn"] == STACK_ROLE
    estimate = doc["cost_estimate"]
    assert estimate["count"] == 3
    # job fee + per-object fee + Lambda requests + tagging requests + verdict reads
    assert set(estimate["items"]) == {
        "job", "objects", "lambda requests", "PUT tagging", "GET tagging", "verdict reads",
    }  # fmt: skip
    assert estimate["usd"] == pytest.approx(0.25 + 3 * (1e-6 + 0.2e-6 + 5e-6 + 0.4e-6 + 0.125e-6), abs=1e-4)


def test_direct_backfill_carries_a_cost_estimate_from_the_bucket_object_count(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    stack = _arrange(server_factory)
    objects = server_factory.client("s3").list_objects_v2(Bucket=stack.uploads_bucket)["KeyCount"]
    # From S3's daily storage metric (CloudWatch AWS/S3 NumberOfObjects, which the emulator derives too).
    r = cli("tag-backfill", "--dry-run", "--json", endpoint=endpoint)
    assert r.exit_code == 0, r.stderr
    estimate = r.json()["cost_estimate"]
    assert estimate["count"] == objects
    assert set(estimate["items"]) == {"PUT tagging", "GET tagging", "verdict reads", "LIST"}
    assert estimate["usd"] == pytest.approx(objects * (5e-6 + 0.4e-6 + 0.125e-6) + 5e-6, abs=1e-4)
    assert f"cost estimate: {objects} objects -> about $0.00" in r.stderr
    limited = cli("tag-backfill", "--dry-run", "--limit", "2", "--json", endpoint=endpoint)
    assert limited.json()["cost_estimate"]["count"] == 2
    # Human output keeps the estimate on stderr, ahead of the run.
    human = cli("tag-backfill", "--dry-run", endpoint=endpoint)
    assert "cost estimate:" in human.stderr
    assert "cost estimate:" not in human.stdout


def test_direct_cost_estimate_at_scale() -> None:
    from picops.cli import costs

    estimate = costs.direct_backfill(2_000_000, source="s3://b/", listing=True)
    assert estimate.usd == pytest.approx(10.0 + 0.8 + 0.25 + 0.01)
    assert "2,000,000 objects -> about $11.06" in estimate.line()
    assert costs.direct_backfill(None, source="s3://b/", listing=True).as_dict()["usd"] is None
    redrive = costs.sqs_redrive(1_000_000, fifo=True)
    assert redrive.usd == pytest.approx(1.5)
