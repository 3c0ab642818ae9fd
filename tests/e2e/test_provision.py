"""provision / status / destroy against a fresh moto server, through the real CLI."""

from __future__ import annotations

import functools
import json
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest

from picops.aws import ClientFactory
from picops.config import AwsSettings
from picops.functions import FUNCTIONS
from picops.stack.names import logical_names

pytestmark = pytest.mark.e2e

READ_PREFIXES = ("Get", "List", "Describe", "Head", "Scan", "Query")


class Calls:
    """Counts every AWS operation the CLI makes (botocore `before-call` hook on each client it builds)."""

    def __init__(self) -> None:
        self.ops: Counter[str] = Counter()
        self.sequence: list[str] = []  # mutating operations, in order
        self.fail_after: int | None = None

    def hook(self, model: Any, service: str = "", **_: Any) -> None:
        mutating = not model.name.startswith(READ_PREFIXES)
        if mutating and self.fail_after is not None and sum(self.mutating.values()) >= self.fail_after:
            raise KeyboardInterrupt  # what Ctrl-C mid-apply looks like to the executor
        # KMS shares operation names with Lambda (CreateAlias): keep its calls apart.
        name = f"{model.name}@kms" if service == "kms" else model.name
        self.ops[name] += 1
        if mutating:
            self.sequence.append(name)

    @property
    def mutating(self) -> Counter[str]:
        return Counter({op: n for op, n in self.ops.items() if not op.startswith(READ_PREFIXES)})

    def reset(self) -> None:
        self.ops.clear()
        self.sequence.clear()


@pytest.fixture(scope="session")
def bundle_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bundle-cache")


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch, bundle_cache: Path) -> Calls:
    # One bundle build per session (offline: on a loopback endpoint the bundle copies this environment).
    monkeypatch.setenv("PICOPS_DEPLOY__CACHE_DIR", str(bundle_cache))
    counter = Calls()
    original = ClientFactory.client

    def client(self: ClientFactory, service: str, *, concurrency: int = 10) -> Any:
        made = original(self, service, concurrency=concurrency)
        made.meta.events.register(
            "before-call.*.*", functools.partial(counter.hook, service=service), unique_id="picops-test-calls"
        )
        return made

    monkeypatch.setattr(ClientFactory, "client", client)
    return counter


def _provision(cli: Any, endpoint: str, *args: str) -> Any:
    result = cli("provision", "--yes", "--json", *args, endpoint=endpoint)
    assert result.exit_code == 0, result.stderr + result.stdout
    return result.json()


def _status(cli: Any, endpoint: str) -> tuple[int, dict[str, Any]]:
    result = cli("status", "--json", endpoint=endpoint)
    return result.exit_code, result.json()


def test_provision_creates_everything_and_rerun_makes_no_mutating_call(
    cli: Any, endpoint: str, calls: Calls
) -> None:
    first = _provision(cli, endpoint)
    assert first["summary"]["create"] == len(first["changes"])
    assert calls.mutating["CreateFunction"] == len(FUNCTIONS)  # every function of the table, once
    # One execution role per function, plus the S3 Batch Operations role of `tag-backfill`.
    assert calls.mutating["CreateRole"] == len(FUNCTIONS) + 1
    assert calls.mutating["PutRolePolicy"] == len(FUNCTIONS) + 1
    # Mappings are recorded for the local runtime, never created in the emulator.
    assert calls.mutating["CreateEventSourceMapping"] == 0

    code, status = _status(cli, endpoint)
    assert code == 0, status
    by_logical = {r["logical"]: r for r in status["resources"]}
    for logical in logical_names():
        assert by_logical[logical]["status"] == "ok", by_logical[logical]
    for extra in (
        "IngestFunctionRole",
        "IngestQueuePolicy",
        "UploadsBucketNotification",
        "IngestDLQAlarm",
        "InventoryQueueSubscription",
        "IngestFunctionLogGroup",
        "SweepSchedulePermission",
        "ModerationBatchRole",
    ):
        assert by_logical[extra]["status"] == "ok"
    assert all(r["status"] == "ok" for r in status["resources"])
    assert status["stack"] == "picops"
    assert "local" in by_logical["IngestFunctionMapping"]["detail"]
    from picops.stack.local_mappings import read_local_mappings

    recorded = read_local_mappings(
        ClientFactory(AwsSettings(region="us-east-1", endpoint_url=endpoint)).client("ssm"), "picops"
    )
    assert [r["logical"] for r in recorded] == [
        "IngestFunctionMapping",
        "InventoryFunctionMapping",
        "ModerationStreamFunctionMapping",
        "PaymentFunctionMapping",
    ]
    ingest = recorded[0]
    assert ingest["handler"] == "picops.handlers.ingest.handler"
    assert ingest["mapping"]["EventSourceArn"].endswith(":picops-ingest")
    assert ingest["mapping"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    stream = recorded[2]["mapping"]
    assert ":table/picops-moderation/stream/" in stream["EventSourceArn"]
    assert stream["BisectBatchOnFunctionError"] is True

    calls.reset()
    plan = cli("provision", "--plan", "--json", endpoint=endpoint).json()
    assert plan["summary"] == {"create": 0, "update": 0, "replace": 0, "noop": len(plan["changes"])}
    assert all(c["local"] for c in plan["changes"] if c["type"] == "AWS::Lambda::EventSourceMapping")
    second = _provision(cli, endpoint)
    assert second["summary"]["noop"] == len(second["changes"])
    assert calls.mutating == Counter(), calls.mutating
    assert calls.ops["GetQueueAttributes"] > 0  # it did look


def test_wiring_delivers_uploads_and_bookings(
    cli: Any, endpoint: str, server_factory: ClientFactory, calls: Calls
) -> None:
    _provision(cli, endpoint)
    account = server_factory.account_id()
    s3, sqs, sns = (server_factory.client(s) for s in ("s3", "sqs", "sns"))

    uploads = f"picops-uploads-{account}-us-east-1"
    s3.put_object(Bucket=uploads, Key="incoming/cat photo.jpg", Body=b"jpeg")
    s3.put_object(Bucket=uploads, Key="elsewhere/dog.jpg", Body=b"jpeg")  # outside the prefix
    ingest_url = sqs.get_queue_url(QueueName="picops-ingest")["QueueUrl"]
    got = sqs.receive_message(QueueUrl=ingest_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    keys = [
        unquote_plus(rec["s3"]["object"]["key"])
        for m in got
        for rec in json.loads(m["Body"]).get("Records", [])
    ]
    assert keys == ["incoming/cat photo.jpg"]

    topic = f"arn:aws:sns:us-east-1:{account}:picops-booking.fifo"
    body = json.dumps({"booking_id": "b-1", "seat": "12A"})
    sns.publish(TopicArn=topic, Message=body, MessageGroupId="seat-12A")
    for queue in ("picops-inventory.fifo", "picops-payment.fifo"):
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        msgs = sqs.receive_message(QueueUrl=url, AttributeNames=["MessageGroupId"], WaitTimeSeconds=1)[
            "Messages"
        ]
        assert len(msgs) == 1
        assert msgs[0]["Body"] == body  # raw delivery: no SNS envelope
        assert msgs[0]["Attributes"]["MessageGroupId"] == "seat-12A"


def test_drift_is_reported_and_repaired(
    cli: Any, endpoint: str, server_factory: ClientFactory, calls: Calls
) -> None:
    _provision(cli, endpoint)
    sqs = server_factory.client("sqs")
    url = sqs.get_queue_url(QueueName="picops-ingest")["QueueUrl"]
    policy = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    # Policy restated: moto (unlike SQS) drops attributes a SetQueueAttributes call leaves out.
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "30", "Policy": policy})

    code, status = _status(cli, endpoint)
    assert code == 1
    drifted = [r for r in status["resources"] if r["status"] != "ok"]
    assert [r["logical"] for r in drifted] == ["IngestQueue"], drifted
    assert drifted[0]["status"] == "drifted"
    assert "VisibilityTimeout" in drifted[0]["detail"]

    plan = cli("provision", "--plan", "--json", endpoint=endpoint).json()
    changes = {c["logical"]: c for c in plan["changes"]}
    assert changes["IngestQueue"]["action"] == "update"
    assert changes["IngestQueue"]["diff"] == {"VisibilityTimeout": {"live": "30", "desired": "720"}}
    assert plan["summary"]["update"] == 1

    calls.reset()
    _provision(cli, endpoint)
    assert calls.mutating == Counter({"SetQueueAttributes": 1})
    assert _status(cli, endpoint)[0] == 0


# Interrupted among the queues, and in the middle of creating the functions (after CreateFunction, before the
# alias), where a naive re-run would trip over what exists.
# The points are found from a full run's call sequence (so resources added before them do not move them).
@pytest.mark.parametrize("where", ["queues", "functions"])
def test_interrupted_provision_converges_on_rerun(cli: Any, endpoint: str, calls: Calls, where: str) -> None:
    from picops.local.endpoint import reset

    _provision(cli, endpoint)
    sequence = list(calls.sequence)
    reset(endpoint)
    calls.reset()
    if where == "queues":
        fail_after = sequence.index("CreateQueue") + 2  # one queue made, the next not
    else:
        fail_after = sequence.index("CreateFunction") + 1  # created, not yet published nor aliased
    calls.fail_after = fail_after
    interrupted = cli("provision", "--yes", endpoint=endpoint)
    assert interrupted.exit_code == 130
    if where == "functions":
        assert calls.mutating["CreateFunction"] >= 1
        assert calls.mutating["CreateAlias"] < calls.mutating["CreateFunction"]
    code, status = _status(cli, endpoint)
    assert code == 1
    by_status = {r["logical"]: r for r in status["resources"] if r["status"] != "ok"}
    assert by_status
    if where == "functions":
        # The function that was created but never published/aliased is seen as drifted, not as ok.
        (half_done,) = [r for r in by_status.values() if r["status"] == "drifted"]
        assert half_done["type"] == "AWS::Lambda::Function"
        assert "Alias" in half_done["detail"]

    calls.fail_after = None
    _provision(cli, endpoint)
    assert _status(cli, endpoint)[0] == 0
    calls.reset()
    assert cli("provision", "--yes", endpoint=endpoint).exit_code == 0
    assert calls.mutating == Counter()


def test_destroy_removes_everything_it_created(
    cli: Any, endpoint: str, server_factory: ClientFactory, calls: Calls
) -> None:
    _provision(cli, endpoint)
    account = server_factory.account_id()
    s3 = server_factory.client("s3")
    s3.put_object(Bucket=f"picops-uploads-{account}-us-east-1", Key="incoming/a.jpg", Body=b"x")
    server_factory.client("sns").publish(
        TopicArn=f"arn:aws:sns:us-east-1:{account}:picops-booking.fifo", Message="{}", MessageGroupId="g"
    )

    # The data rule is settled before any question: refused (exit 2) without a prompt being reached.
    unasked = cli("destroy", "--json", endpoint=endpoint)
    assert unasked.exit_code == 2
    assert "refusing to delete resources that hold data" in unasked.stderr
    calls.reset()
    refused = cli("destroy", "--yes", "--json", endpoint=endpoint)
    assert refused.exit_code == 2
    assert "UploadsBucket" in refused.stderr
    assert "IngestQueue" not in refused.stderr  # queues are reported, not refused
    assert calls.mutating == Counter()  # refused before deleting anything

    dry = cli("destroy", "--yes", "--dry-run", "--delete-data", "--json", endpoint=endpoint)
    assert dry.exit_code == 0
    assert calls.mutating == Counter()
    assert dry.json()["summary"]["delete"] == len(dry.json()["resources"])
    # Without --delete-data a dry run reports (it does not refuse) what would need it.
    report = cli("destroy", "--dry-run", "--json", endpoint=endpoint)
    assert report.exit_code == 0, report.stderr
    details = {r["logical"]: r["detail"] for r in report.json()["resources"]}
    assert details["UploadsBucket"] == "holds objects (needs --delete-data)"
    assert calls.mutating == Counter()

    done = cli("destroy", "--yes", "--delete-data", "--json", endpoint=endpoint)
    assert done.exit_code == 0, done.stderr
    assert "PaymentQueue (picops-payment.fifo) holds about 1 messages" in done.stderr
    details = {r["logical"]: r["detail"] for r in done.json()["resources"]}
    assert details["InventoryQueue"] == "holds about 1 messages"
    code, status = _status(cli, endpoint)
    assert code == 1
    assert {r["status"] for r in status["resources"]} == {"missing"}
    # Nothing of the stack is left behind, checked directly.
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == []
    assert server_factory.client("sqs").list_queues().get("QueueUrls", []) == []
    assert server_factory.client("lambda").list_functions()["Functions"] == []
    assert server_factory.client("iam").list_roles()["Roles"] == []
    assert server_factory.client("dynamodb").list_tables()["TableNames"] == []
    assert server_factory.client("sns").list_topics()["Topics"] == []
    assert server_factory.client("apigatewayv2").get_apis()["Items"] == []
    assert server_factory.client("cloudwatch").describe_alarms()["MetricAlarms"] == []
    assert server_factory.client("events").list_rules()["Rules"] == []
    groups = server_factory.client("logs").describe_log_groups()["logGroups"]
    assert [g["logGroupName"] for g in groups if g["logGroupName"].startswith("/aws/lambda/picops")] == []
    params = server_factory.client("ssm").get_parameters_by_path(Path="/picops", Recursive=True)["Parameters"]
    assert params == []
    # A second destroy finds nothing to do.
    again = cli("destroy", "--yes", "--json", endpoint=endpoint).json()
    assert again["summary"]["delete"] == 0


def test_a_stack_holding_only_its_access_logs_is_destroyed_without_delete_data(
    cli: Any, endpoint: str, server_factory: ClientFactory
) -> None:
    _provision(cli, endpoint)
    account = server_factory.account_id()
    s3 = server_factory.client("s3")
    logs = f"picops-access-logs-{account}-us-east-1"
    s3.put_object(Bucket=logs, Key="uploads/2026-12-04-03-00-00-ABC", Body=b"log line")
    done = cli("destroy", "--yes", "--json", endpoint=endpoint)
    assert done.exit_code == 0, done.stderr
    details = {r["logical"]: r["detail"] for r in done.json()["resources"]}
    assert details["AccessLogsBucket"] == "holds objects (the stack's own access logs: deleted with it)"
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {
                "PICOPS_INGEST__PROCESSED_BUCKET": "same-bucket",
                "PICOPS_INGEST__UPLOADS_BUCKET": "same-bucket",
            },
            "same bucket",
        ),
        ({"PICOPS_INGEST__SUFFIXES": '[".jpg", "photo.jpg"]'}, "overlap"),
        # An empty prefix would cover picops's own `_picops/` state objects (e.g. the sweeper's JSON).
        ({"PICOPS_INGEST__PREFIX": ""}, "reserved prefix"),
        ({"PICOPS_INGEST__PREFIX": "uploads/"}, None),
    ],
)
def test_preflight_errors_exit_2_before_any_change(
    cli: Any,
    endpoint: str,
    calls: Calls,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    message: str | None,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = cli("provision", "--yes", endpoint=endpoint)
    if message is None:  # a control: another prefix with distinct suffixes is valid wiring
        assert result.exit_code == 0, result.stderr
        return
    assert result.exit_code == 2
    assert message in result.stderr
    assert "preflight" in result.stderr
    assert calls.mutating == Counter()


def test_external_moderation_table_is_referenced_never_managed(
    cli: Any, endpoint: str, server_factory: ClientFactory, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICOPS_MODERATION__EXTERNAL", "true")
    monkeypatch.setenv("PICOPS_MODERATION__TABLE_NAME", "vendor-verdicts")
    missing = cli("provision", "--yes", endpoint=endpoint)
    assert missing.exit_code == 3
    assert "vendor-verdicts" in missing.stderr

    ddb = server_factory.client("dynamodb")
    ddb.create_table(
        TableName="wrong-key",
        KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    monkeypatch.setenv("PICOPS_MODERATION__TABLE_NAME", "wrong-key")
    wrong_key = cli("provision", "--plan", endpoint=endpoint)
    assert wrong_key.exit_code == 2
    assert "key_attribute" in wrong_key.stderr
    monkeypatch.setenv("PICOPS_MODERATION__TABLE_NAME", "vendor-verdicts")
    ddb.create_table(
        TableName="vendor-verdicts",
        KeySchema=[{"AttributeName": "object_key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "object_key", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    no_stream = cli("provision", "--yes", endpoint=endpoint)
    assert no_stream.exit_code == 2
    assert "stream" in no_stream.stderr

    ddb.update_table(
        TableName="vendor-verdicts",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    calls.reset()
    _provision(cli, endpoint)
    touched = [op for op in calls.mutating if op in {"CreateTable", "UpdateTable", "UpdateContinuousBackups"}]
    assert calls.mutating["CreateTable"] == 2  # JobsTable and BookingsTable only
    assert "UpdateTable" not in touched
    assert _status(cli, endpoint)[0] == 0

    assert cli("destroy", "--yes", "--delete-data", endpoint=endpoint).exit_code == 0
    assert sorted(ddb.list_tables()["TableNames"]) == ["vendor-verdicts", "wrong-key"]


def test_demo_step_stands_the_stack_up(
    endpoint: str, server_factory: ClientFactory, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    from picops.cli.demo_steps import STEPS, DemoContext
    from picops.cli.demo_steps import provision as step
    from picops.cli.output import Output
    from picops.config import load_settings

    assert [s.title for s in STEPS][:2] == ["checking the local endpoint", step.STEP.title]
    settings = load_settings(overrides={"aws": {"endpoint_url": endpoint}}, use_files=False)
    context = DemoContext(settings=settings, factory=server_factory, out=Output())
    result = step.run(context)
    assert result.ok, result.detail
    assert result.data["status"] == {"ok": result.data["resources"]}
    assert context.shared["stack"]["uploads_bucket"].startswith("picops-uploads-")

    # The outcome is judged by a fresh status read: an alarm deleted behind its back is re-created...
    server_factory.client("cloudwatch").delete_alarms(AlarmNames=["picops-IngestDLQ-visible"])
    again = step.run(context)
    assert again.ok
    assert again.data["applied"] == 1
    # ...and if the apply does not happen, the step fails.
    server_factory.client("cloudwatch").delete_alarms(AlarmNames=["picops-IngestDLQ-visible"])
    monkeypatch.setattr("picops.provision.usecase.apply_plan", lambda *args, **kwargs: [])
    broken = step.run(context)
    assert not broken.ok
    assert "IngestDLQAlarm missing" in broken.detail
