"""Least privilege, proven both ways on an operator's day run end to end in strict local mode.

One run of every command an operator uses (provision, status, health, deploy, the demo's pipelines through
the local runtime, tag-backfill in each mode, dlq, ingest, bookings, invoke, logs, destroy) on the moto
server, with a recording of every check strict mode allowed (picops.strict.guard.recording):

- each command's own calls are allowed by the policy `provision --print-policy` printed (what an admin is
  handed), not only by the guard's copy of it;
- each grant of the operator policy and of every function role is removed in turn and the recorded checks
  evaluated again (picops.strict.necessity): a grant is proven when some call is then refused. A grant no
  call here needs is listed below with the reason it is kept; a listed grant that the run does need, or a
  grant neither proven nor listed, fails the test, so the list cannot rot.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from picops.aws import ClientFactory
from picops.config import Settings
from picops.stack.build import build_model
from picops.stack.model import FunctionSpec
from picops.stack.names import StackNames
from picops.strict.actions import Request, context_of, needs
from picops.strict.guard import Observed, Recording, recording
from picops.strict.necessity import Verdict, verdicts
from picops.strict.policy import Check, Decision, evaluate
from tests import tagging_support as ts
from tests.deploy_support import RUNTIME
from tests.ingest_support import jpeg

pytestmark = pytest.mark.e2e

OPERATOR = "user/picops-operator"
INVENTORY = "picops-inventory-reports"

# Grants no call of the day needs, and why each is kept. Keyed by principal (OPERATOR or the function's
# logical name) and action. Everything here is the Lambda service acting with a function's role, which no
# local runtime reproduces, or an S3 answer strict mode does not model.
_RUNTIME_LOGS = "the Lambda runtime writes the function's logs with its role"
_POLLER = "the event source mapping's poller (the Lambda service) reads the queue's attributes with the role"
KEPT: dict[tuple[str, str], str] = {
    **{
        (function, action): _RUNTIME_LOGS
        for function in (
            "BookingApiFunction",
            "DlqRedriveFunction",
            "IngestFunction",
            "InventoryFunction",
            "ModerationStreamFunction",
            "ModerationSweepFunction",
            "OutboxSweepFunction",
            "PaymentFunction",
        )
        for action in ("logs:CreateLogStream", "logs:PutLogEvents")
    },
    **{
        (function, "sqs:GetQueueAttributes"): _POLLER
        for function in ("IngestFunction", "InventoryFunction", "PaymentFunction")
    },
    ("IngestFunction", "s3:ListBucket"): "without it S3 answers a missing upload with 403, not 404, and an "
    "upload deleted before its message is handled would read as AccessDenied instead of missing",
    ("ModerationStreamFunction", "dynamodb:ListStreams"): "the stream mapping lists the table's streams",
    ("ModerationStreamFunction", "sns:Publish"): "the stream mapping sends a failed batch's record to its "
    "on-failure destination (AlertsTopic) with the role",
    (OPERATOR, "logs:GetQueryResults"): "`trace` on AWS reads its Logs Insights query's results; AWS "
    "authorises that on the query's log groups, which the request (a query id) does not name, so strict mode "
    "cannot see them",
    ("DlqRedriveFunction", "sqs:ChangeMessageVisibility"): "the mover holds back, then releases, messages "
    "a filter or a FIFO group keeps from moving (core/dlq/redrive.py); a scheduled run of a standard DLQ "
    "moves everything",
    (OPERATOR, "lambda:UntagResource"): "deploy drops a function's release history records past the newest "
    "20 (provision/release/history.py); the day deploys fewer times than that",
    ("ModerationSweepFunction", "sqs:SendMessage"): "Lambda sends a failed asynchronous invocation's record "
    "to the sweeper's on-failure destination (SweepDLQ) with the role",
}

# The commands of the day whose calls are checked against the printed policy.
COMMANDS = [
    "provision",
    "status",
    "health",
    "deploy",
    "demo",
    "tag-backfill",
    "tag-backfill --inventory",
    "tag-backfill --engine batch-operations",
    "dlq",
    "ingest",
    "bookings",
    # (`invoke` in-process makes its calls with the function's role: they are the roles' proof below.)
    "invoke --remote",
    "destroy",
]
# Calls the operator makes only on AWS, as their code makes them (request shapes): each must be allowed by
# the printed policy, and each proves the grants it needs like a recorded call.
_DLQ = "arn:aws:sqs:us-east-1:123456789012:picops-ingest-dlq"
_LIVE = "picops-ingest:live"
_LIVE_ARN = "arn:aws:lambda:us-east-1:123456789012:function:picops-ingest:live"
# A move task's handle: base64 JSON naming its source queue, as SQS returns it.
_HANDLE = base64.b64encode(json.dumps({"taskId": "t-1", "sourceArn": _DLQ}).encode()).decode()
AWS_ONLY: list[tuple[str, str, dict[str, Any], dict[str, list[str]]]] = [
    # `logs` on a local endpoint reads the runtime's log files (cli/logs.py CloudWatchSource on AWS).
    ("logs", "FilterLogEvents", {"logGroupName": "/aws/lambda/picops-ingest", "startTime": 0}, {}),
    # `trace` on AWS: one Logs Insights query over the log groups (core/trace/logs.py query_insights).
    (
        "logs",
        "StartQuery",
        {"logGroupNames": ["/aws/lambda/picops-ingest"], "startTime": 0, "endTime": 1, "queryString": "q"},
        {},
    ),
    # `trace` on AWS with tracing on: the traces annotated with the thing's id (core/trace/xray.py).
    (
        "xray",
        "GetTraceSummaries",
        {"StartTime": 0, "EndTime": 1, "FilterExpression": 'annotation.key = "k"'},
        {},
    ),
    # provision's concurrency preflight (provision/preflight.py check_concurrency; emulators have no limits).
    ("lambda", "GetAccountSettings", {}, {}),
    # Event source mappings on AWS (locally they are records the runtime polls: provision/kinds).
    ("lambda", "ListEventSourceMappings", {"FunctionName": _LIVE}, {}),
    ("lambda", "CreateEventSourceMapping", {"FunctionName": _LIVE, "EventSourceArn": _DLQ}, {}),
    ("lambda", "UpdateEventSourceMapping", {"UUID": "u-1", "FunctionName": _LIVE}, {}),
    # Deleting names only the UUID: AWS sets lambda:FunctionArn from the mapping itself.
    ("lambda", "DeleteEventSourceMapping", {"UUID": "u-1"}, {"lambda:FunctionArn": [_LIVE_ARN]}),
    # `dlq redrive --native` (core/dlq/move_task.py): SQS message move tasks, which moto does not run.
    ("sqs", "StartMessageMoveTask", {"SourceArn": _DLQ}, {}),
    ("sqs", "ListMessageMoveTasks", {"SourceArn": _DLQ, "MaxResults": 1}, {}),
    ("sqs", "CancelMessageMoveTask", {"TaskHandle": _HANDLE}, {}),
]


@pytest.fixture
def day_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PICOPS_DEPLOY__FUNCTIONS__PAYMENTFUNCTION__RESERVED_CONCURRENCY", "12")
    monkeypatch.setenv("PICOPS_MODERATION__INVENTORY_BUCKET", INVENTORY)
    monkeypatch.setenv("PICOPS_DEPLOY__RUNTIME", RUNTIME)
    monkeypatch.setenv("PICOPS_DEPLOY__CACHE_DIR", str(tmp_path / "bundle-cache"))
    # The scheduled repairs: IngestDLQ redriven by the stack itself, the outbox swept with no age threshold.
    monkeypatch.setenv("PICOPS_DLQ__INGESTDLQ__AUTO_REDRIVE_EVERY", "1h")
    monkeypatch.setenv("PICOPS_BOOKINGS__REPUBLISH_AFTER_S", "0")


@pytest.fixture
def stubbed_s3control(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Stubber]]:
    """moto has no S3 Batch Operations jobs: CreateJob/DescribeJob answer from a Stubber, after the guard
    (installed first, so it sees the request before the stub answers it)."""
    original = ClientFactory.client
    made: list[tuple[Any, Stubber]] = []

    def client_for(self: ClientFactory, service: str, *, concurrency: int = 10) -> Any:
        if service != "s3control":
            return original(self, service, concurrency=concurrency)
        if not made:
            import boto3

            client = boto3.client("s3control", region_name=self.region)
            for install in self.installers:
                install(client, self)
            stub = Stubber(client)
            stub.add_response("create_job", {"JobId": "job-1"})
            stub.add_response("describe_job", {"Job": {"JobId": "job-1", "Status": "Active"}})
            stub.activate()
            made.append((client, stub))
        return made[0][0]

    monkeypatch.setattr(ClientFactory, "client", client_for)
    return made


def _run(
    recorded: Recording, label: str, cli: Any, *args: str, endpoint: str, ok: tuple[int, ...] = (0,)
) -> Any:
    recorded.label = label
    result = cli(*args, endpoint=endpoint)
    assert result.exit_code in ok, f"{label}: {' '.join(args)} exited {result.exit_code}: {result.stderr}"
    return result


def _operators_day(
    cli: Any, endpoint: str, factory: ClientFactory, tmp: Path, recorded: Recording
) -> dict[str, Any]:
    printed = json.loads(
        _run(recorded, "print-policy", cli, "provision", "--print-policy", endpoint=endpoint).stdout
    )
    _run(recorded, "provision", cli, "provision", "--yes", "--json", endpoint=endpoint)
    _run(recorded, "status", cli, "status", "--json", endpoint=endpoint)
    _run(recorded, "health", cli, "health", "--json", endpoint=endpoint, ok=(0, 1))
    _run(recorded, "deploy", cli, "deploy", "--json", endpoint=endpoint)
    demo = _run(recorded, "demo", cli, "demo", "--json", endpoint=endpoint).json()
    names = StackNames(Settings(), factory.account_id(), factory.region)
    _drift(factory, names)
    _run(recorded, "provision", cli, "provision", "--yes", "--json", endpoint=endpoint)
    lam = factory.client("lambda")
    lam.update_function_code(FunctionName=names.physical("IngestFunction"), ZipFile=_placeholder_zip())
    _run(recorded, "deploy", cli, "deploy", "IngestFunction", "--json", endpoint=endpoint)
    _run(recorded, "deploy", cli, "deploy", "--rollback", "IngestFunction", "--json", endpoint=endpoint)
    release = (
        "deploy",
        "IngestFunction",
        "--strategy",
        "canary10-5m",
        "--interval-scale",
        "0.0002",
        "--json",
    )
    _run(recorded, "deploy", cli, *release, endpoint=endpoint)
    _run(recorded, "deploy", cli, "deploy", "status", "--json", endpoint=endpoint)
    _run(recorded, "deploy", cli, "deploy", "history", "--json", endpoint=endpoint)
    _run(recorded, "deploy", cli, "deploy", "rollback", "IngestFunction", "--json", endpoint=endpoint)
    _tagging(cli, endpoint, factory, names, recorded)
    _handlers(cli, endpoint, factory, names, tmp, recorded, demo)
    _deletions(cli, endpoint, factory, names, tmp, recorded)
    _lost_publish(cli, endpoint, factory, names, tmp, recorded)
    _dlq(cli, endpoint, factory, names, tmp, recorded)
    _run(recorded, "ingest", cli, "ingest", "failures", "--json", endpoint=endpoint)
    _run(
        recorded,
        "ingest",
        cli,
        "ingest",
        "status",
        "incoming/day/a.jpg",
        "--json",
        endpoint=endpoint,
        ok=(0, 1, 3),
    )
    _run(
        recorded,
        "ingest",
        cli,
        "ingest",
        "reprocess",
        "incoming/day/a.jpg",
        "--yes",
        "--json",
        endpoint=endpoint,
    )
    _run(recorded, "bookings", cli, "bookings", "inspect", "--json", endpoint=endpoint)
    _run(recorded, "invoke", cli, "invoke", "ModerationSweepFunction", "--json", endpoint=endpoint)
    # moto runs no function code without Docker: the call is authorised, then fails on the endpoint.
    _run(
        recorded,
        "invoke --remote",
        cli,
        "invoke",
        "ModerationSweepFunction",
        "--remote",
        endpoint=endpoint,
        ok=(0, 1, 3),
    )
    _run(recorded, "logs", cli, "logs", "IngestFunction", "--json", endpoint=endpoint)
    kms = factory.client("kms")
    aliases = {
        a["AliasName"]: a["TargetKeyId"]
        for a in kms.list_aliases()["Aliases"]
        if a["AliasName"].startswith(f"alias/{names.stack}-") and a.get("TargetKeyId")
    }
    _run(recorded, "destroy", cli, "destroy", "--delete-data", "--yes", "--json", endpoint=endpoint)
    # A destroy stopped between scheduling a key's deletion and deleting its alias leaves the alias on a
    # dead key; the stack brought back points the alias at its new key.
    for alias, key in list(aliases.items())[:1]:
        kms.create_alias(AliasName=alias, TargetKeyId=key)
    _run(recorded, "provision", cli, "provision", "--yes", "--json", endpoint=endpoint)
    _run(recorded, "destroy", cli, "destroy", "--delete-data", "--yes", "--json", endpoint=endpoint)
    return dict(printed)


def _tagging(cli: Any, endpoint: str, factory: ClientFactory, names: StackNames, recorded: Recording) -> None:
    keys = ["incoming/day/a.jpg", "incoming/day/b.jpg"]
    versions = ts.put_objects(factory, names.uploads_bucket, keys)
    ts.put_verdicts(factory, names.moderation_table, dict.fromkeys(keys, "approved"))
    _run(recorded, "tag-backfill", cli, "tag-backfill", "--json", endpoint=endpoint)
    _run(recorded, "tag-backfill", cli, "tag-backfill", "--verify", "--json", endpoint=endpoint)
    # One more upload with a verdict, after the listing runs: the inventory run is the one that tags it.
    versions.update(ts.put_objects(factory, names.uploads_bucket, ["incoming/day/c.jpg"]))
    ts.put_verdicts(factory, names.moderation_table, {"incoming/day/c.jpg": "approved"})
    keys.append("incoming/day/c.jpg")
    factory.client("s3").create_bucket(Bucket=INVENTORY)
    # A versioned bucket's inventory names each version: tagging one is the `...VersionTagging` pair.
    rows = [(names.uploads_bucket, k, versions[k] or "", True, False) for k in keys]
    url = ts.put_inventory(factory, INVENTORY, names.uploads_bucket, [ts.csv_gz(rows)])
    _run(
        recorded,
        "tag-backfill --inventory",
        cli,
        "tag-backfill",
        "--inventory",
        url,
        "--json",
        endpoint=endpoint,
    )
    label = "tag-backfill --engine batch-operations"
    args = ("tag-backfill", "--inventory", url, "--engine", "batch-operations", "--yes", "--json")
    _run(recorded, label, cli, *args, endpoint=endpoint)
    _run(recorded, label, cli, "tag-backfill", "--job-status", "job-1", "--json", endpoint=endpoint)


def _drift(factory: ClientFactory, names: StackNames) -> None:
    """Changes made by hand behind picops's back: the next `provision` repairs each."""
    lam, iam, kms = factory.client("lambda"), factory.client("iam"), factory.client("kms")
    ingest = lam.get_function_configuration(FunctionName=names.physical("IngestFunction"))
    lam.update_function_configuration(
        FunctionName=ingest["FunctionName"], MemorySize=ingest["MemorySize"] + 128
    )
    lam.put_function_concurrency(FunctionName=ingest["FunctionName"], ReservedConcurrentExecutions=3)
    lam.delete_function_concurrency(FunctionName=names.physical("PaymentFunction"))
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.update_assume_role_policy(
        RoleName=ingest["Role"].rsplit("/", 1)[-1], PolicyDocument=json.dumps(trust)
    )
    factory.client("dynamodb").update_table(
        TableName=names.jobs_table,
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
    )
    sns = factory.client("sns")
    sns.set_topic_attributes(
        TopicArn=names.arn("NotifyTopic"), AttributeName="KmsMasterKeyId", AttributeValue="alias/aws/sns"
    )
    for sub in sns.list_subscriptions_by_topic(TopicArn=names.arn("BookingTopic"))["Subscriptions"][:1]:
        raw = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])["Attributes"][
            "RawMessageDelivery"
        ]
        flipped = "false" if raw == "true" else "true"
        sns.set_subscription_attributes(
            SubscriptionArn=sub["SubscriptionArn"], AttributeName="RawMessageDelivery", AttributeValue=flipped
        )
    api = factory.client("apigatewayv2")
    for found in api.get_apis()["Items"]:
        for integration in api.get_integrations(ApiId=found["ApiId"])["Items"]:
            api.update_integration(
                ApiId=found["ApiId"], IntegrationId=integration["IntegrationId"], PayloadFormatVersion="1.0"
            )
    for alias in kms.list_aliases()["Aliases"]:
        if alias["AliasName"].startswith(f"alias/{names.stack}-") and alias.get("TargetKeyId"):
            kms.disable_key(KeyId=alias["TargetKeyId"])
            root = {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{factory.account_id()}:root"},
                        "Action": "kms:*",
                        "Resource": "*",
                    }
                ]
            }
            kms.put_key_policy(KeyId=alias["TargetKeyId"], PolicyName="default", Policy=json.dumps(root))


def _placeholder_zip() -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", "def handler(event, context):\n    return None\n")
    return buf.getvalue()


def _s3_message(tmp: Path, name: str, key: str, event: str, version: str) -> str:
    """An IngestQueue message file holding one S3 record (`event`) for `key` at `version`."""
    message = json.loads((Path(__file__).parents[1] / "events" / "sqs_s3_put.json").read_text())
    body = json.loads(message["Records"][0]["body"])
    record = body["Records"][0]
    record["eventName"] = event
    record["s3"]["object"].update(key=key, versionId=version, size=1, sequencer="0062E99A88DC4074FF")
    message["Records"][0]["body"] = json.dumps(body)
    (tmp / name).write_text(json.dumps(message))
    return str(tmp / name)


def _deletions(
    cli: Any, endpoint: str, factory: ClientFactory, names: StackNames, tmp: Path, recorded: Recording
) -> None:
    """Derived outputs follow their original (IngestFunction), then `ingest gc` and `ingest backfill`."""
    s3 = factory.client("s3")
    bucket = names.uploads_bucket

    def invoke(path: str) -> None:
        args = ("invoke", "IngestFunction", "--event", path, "--json")
        _run(recorded, "invoke", cli, *args, endpoint=endpoint)

    photo = s3.put_object(Bucket=bucket, Key="incoming/day/gone.jpg", Body=jpeg(64, 48))["VersionId"]
    drop = s3.put_object(Bucket=bucket, Key="incoming/day/gone.json", Body=b'{"id": "day-r1"}')["VersionId"]
    orphan = s3.put_object(Bucket=bucket, Key="incoming/day/orphan.json", Body=b'{"id": "day-r2"}')
    orphan_photo = s3.put_object(Bucket=bucket, Key="incoming/day/orphan.jpg", Body=jpeg(64, 48))
    created = [
        ("incoming/day/gone.jpg", photo),
        ("incoming/day/gone.json", drop),
        ("incoming/day/orphan.json", orphan["VersionId"]),
        ("incoming/day/orphan.jpg", orphan_photo["VersionId"]),
    ]
    for i, (key, version) in enumerate(created):
        invoke(_s3_message(tmp, f"created-{i}.json", key, "ObjectCreated:Put", version))
    marker = s3.delete_object(Bucket=bucket, Key="incoming/day/gone.jpg")["VersionId"]
    invoke(
        _s3_message(tmp, "marker.json", "incoming/day/gone.jpg", "ObjectRemoved:DeleteMarkerCreated", marker)
    )
    s3.delete_object(Bucket=bucket, Key="incoming/day/gone.json", VersionId=drop)
    invoke(_s3_message(tmp, "removed.json", "incoming/day/gone.json", "ObjectRemoved:Delete", drop))
    # Deleted with no notification handled: orphans for gc.
    s3.delete_object(Bucket=bucket, Key="incoming/day/orphan.json")
    s3.delete_object(Bucket=bucket, Key="incoming/day/orphan.jpg")
    _run(recorded, "ingest", cli, "ingest", "gc", "--yes", "--json", endpoint=endpoint)
    # A rendition added to the configuration: backfill reads the originals' versions and writes it.
    renditions = [
        {"name": "thumbnail", "max_size": 256, "format": "jpeg", "quality": 85},
        {"name": "tiny", "max_size": 32, "format": "jpeg", "quality": 70},
    ]
    os.environ["PICOPS_INGEST__RENDITIONS"] = json.dumps(renditions)
    try:
        args = ("ingest", "backfill", "--prefix", "incoming/day/", "--yes", "--json")
        _run(recorded, "ingest", cli, *args, endpoint=endpoint, ok=(0, 1))
    finally:
        del os.environ["PICOPS_INGEST__RENDITIONS"]


def _handlers(
    cli: Any,
    endpoint: str,
    factory: ClientFactory,
    names: StackNames,
    tmp: Path,
    recorded: Recording,
    demo: Any,
) -> None:
    """The handlers' paths the demo does not take, invoked in-process with their roles."""
    # The hourly sweep tags what has a verdict and no tag; a Batch Operations task names object versions.
    # task.jpg has no verdict while the sweep runs, then a verdict its stale hand-set tag disagrees with:
    # the Batch Operations task must rewrite that version's tag.
    versions = ts.put_objects(
        factory,
        names.uploads_bucket,
        ["incoming/day/sweep.jpg", "incoming/day/task.jpg"],
        {"incoming/day/task.jpg": {ts.TAG_KEY: "approved"}},
    )
    ts.put_verdicts(factory, names.moderation_table, {"incoming/day/sweep.jpg": "flagged"})
    _run(recorded, "invoke", cli, "invoke", "ModerationSweepFunction", "--json", endpoint=endpoint)
    ts.put_verdicts(factory, names.moderation_table, {"incoming/day/task.jpg": "flagged"})
    task = json.loads((Path(__file__).parents[1] / "events" / "s3_batch_operations_2_0.json").read_text())
    task["tasks"] = [
        {
            "taskId": "t1",
            "s3Bucket": names.uploads_bucket,
            "s3Key": "incoming/day/task.jpg",
            "s3VersionId": versions["incoming/day/task.jpg"],
        },
        {
            "taskId": "t2",
            "s3Bucket": names.uploads_bucket,
            "s3Key": "incoming/day/sweep.jpg",
            "s3VersionId": None,
        },
    ]
    (tmp / "task.json").write_text(json.dumps(task))
    _run(
        recorded,
        "invoke",
        cli,
        "invoke",
        "ModerationSweepFunction",
        "--event",
        str(tmp / "task.json"),
        "--json",
        endpoint=endpoint,
    )
    # An upload notified with its versionId, delivered twice: the second is a duplicate (its job's GetItem).
    upload = factory.client("s3").put_object(
        Bucket=names.uploads_bucket, Key="incoming/day/dup.jpg", Body=jpeg(64, 48)
    )
    message = json.loads((Path(__file__).parents[1] / "events" / "sqs_s3_put.json").read_text())
    body = json.loads(message["Records"][0]["body"])
    body["Records"][0]["s3"]["object"].update(
        key="incoming/day/dup.jpg", versionId=upload["VersionId"], size=1
    )
    message["Records"][0]["body"] = json.dumps(body)
    (tmp / "upload.json").write_text(json.dumps(message))
    for _ in range(2):
        _run(
            recorded,
            "invoke",
            cli,
            "invoke",
            "IngestFunction",
            "--event",
            str(tmp / "upload.json"),
            "--json",
            endpoint=endpoint,
        )
    # A Batch Operations backfill task on a stored original reads its job to see which renditions it lacks.
    backfill = json.loads((Path(__file__).parents[1] / "events" / "s3_batch_operations_2_0.json").read_text())
    backfill["tasks"] = [
        {
            "taskId": "b1",
            "s3Bucket": names.uploads_bucket,
            "s3Key": "incoming/day/dup.jpg",
            "s3VersionId": upload["VersionId"],
        }
    ]
    (tmp / "backfill.json").write_text(json.dumps(backfill))
    _run(
        recorded,
        "invoke",
        cli,
        "invoke",
        "IngestFunction",
        "--event",
        str(tmp / "backfill.json"),
        "--json",
        endpoint=endpoint,
    )
    # A booking looked up through the API: its pointer item, then its seat's line.
    booking = next(s for s in demo["steps"] if s["data"].get("bookings"))["data"]["bookings"][0]["booking_id"]
    get = json.loads((Path(__file__).parents[1] / "events" / "apigw_http_v2_get_booking.json").read_text())
    get["rawPath"] = get["requestContext"]["http"]["path"] = f"/bookings/{booking}"
    get["pathParameters"] = {"id": booking}
    (tmp / "get.json").write_text(json.dumps(get))
    _run(
        recorded,
        "invoke",
        cli,
        "invoke",
        "BookingApiFunction",
        "--event",
        str(tmp / "get.json"),
        "--json",
        endpoint=endpoint,
    )
    # A verdict changed after tagging: the stream retags the object and forgets its tag-ledger entry.
    ts.put_verdicts(factory, names.moderation_table, {"incoming/day/a.jpg": "rejected"})
    _run(recorded, "local run", cli, "local", "run", "--until-idle", "--json", endpoint=endpoint)


def _lost_publish(
    cli: Any, endpoint: str, factory: ClientFactory, names: StackNames, tmp: Path, recorded: Recording
) -> None:
    """Bookings accepted while their publish failed (the API's role lost sns:Publish for a moment): the
    operator's `bookings republish` sends the first, the scheduled outbox sweep (its own role) the second."""
    _accept_unpublished(cli, endpoint, factory, names, tmp, recorded)
    republished = _run(
        recorded, "bookings", cli, "bookings", "republish", "--older-than", "0", "--json", endpoint=endpoint
    )
    assert republished.json()["republished"], republished.stdout
    _accept_unpublished(cli, endpoint, factory, names, tmp, recorded)
    swept = _run(recorded, "invoke", cli, "invoke", "OutboxSweepFunction", "--json", endpoint=endpoint)
    assert swept.json()["error"] is None, swept.stdout


def _accept_unpublished(
    cli: Any, endpoint: str, factory: ClientFactory, names: StackNames, tmp: Path, recorded: Recording
) -> None:
    iam = factory.client("iam")
    role = (
        factory.client("lambda")
        .get_function_configuration(FunctionName=names.physical("BookingApiFunction"))["Role"]
        .rsplit("/", 1)[-1]
    )
    saved = {
        n: iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"]
        for n in iam.list_role_policies(RoleName=role)["PolicyNames"]
    }
    for name, document in saved.items():
        doc = json.loads(document) if isinstance(document, str) else document
        doc["Statement"] = [st for st in doc["Statement"] if "sns:Publish" not in st["Action"]]
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(doc))
    time.sleep(1.1)  # the guard re-reads a role's policies after POLICY_TTL_S
    post = json.loads((Path(__file__).parents[1] / "events" / "apigw_http_v2_post_bookings.json").read_text())
    (tmp / "post.json").write_text(json.dumps(post))
    accepted = _run(
        recorded,
        "invoke",
        cli,
        "invoke",
        "BookingApiFunction",
        "--event",
        str(tmp / "post.json"),
        "--json",
        endpoint=endpoint,
    )
    assert '"statusCode": 202' in accepted.stdout or '"statusCode":202' in accepted.stdout, accepted.stdout
    for name, document in saved.items():
        iam.put_role_policy(
            RoleName=role,
            PolicyName=name,
            PolicyDocument=document if isinstance(document, str) else json.dumps(document),
        )
    time.sleep(1.1)


def _dlq(
    cli: Any, endpoint: str, factory: ClientFactory, names: StackNames, tmp: Path, recorded: Recording
) -> None:
    sqs = factory.client("sqs")
    dlq = sqs.get_queue_url(QueueName=names.physical("IngestDLQ"))["QueueUrl"]
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"Records": []}))
    archive = tmp / "ingest-dlq.jsonl"
    _run(recorded, "dlq", cli, "dlq", "list", "--json", endpoint=endpoint)
    _run(recorded, "dlq", cli, "dlq", "list", "--all", "--json", endpoint=endpoint)
    _run(recorded, "dlq", cli, "dlq", "peek", "IngestDLQ", "--json", endpoint=endpoint)
    _run(
        recorded,
        "dlq",
        cli,
        "dlq",
        "purge",
        "IngestDLQ",
        "--archive",
        str(archive),
        "--yes",
        "--json",
        endpoint=endpoint,
    )
    _run(
        recorded, "dlq", cli, "dlq", "replay", str(archive), "--to", "IngestDLQ", "--json", endpoint=endpoint
    )
    _run(recorded, "dlq", cli, "dlq", "redrive", "IngestDLQ", "--yes", "--json", endpoint=endpoint)
    # The stack's own scheduled redrive (DlqRedriveFunction, with its role): a run that moves a dead letter,
    # a later one that first checks the DLQ's alarm has not fired since, and one on the emptied DLQ that
    # clears its marks.
    for dead_letter in (True, True, False):
        if dead_letter:
            sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"Records": []}))
        redriven = _run(recorded, "invoke", cli, "invoke", "DlqRedriveFunction", "--json", endpoint=endpoint)
        assert redriven.json()["error"] is None, redriven.stdout
    _run(recorded, "dlq", cli, "dlq", "purge", "IngestQueue", "--yes", "--json", endpoint=endpoint)


def _principal_name(arn: str, functions: dict[str, str]) -> str:
    if arn.endswith(OPERATOR):
        return OPERATOR
    return functions[arn.rsplit("/", 1)[-1]]  # assumed-role/<role>/<function name>


def test_every_grant_is_used_and_every_call_is_granted(
    cli: Any,
    endpoint: str,
    server_factory: ClientFactory,
    tmp_path: Path,
    day_env: None,
    stubbed_s3control: Any,
) -> None:
    with recording() as recorded:
        printed = _operators_day(cli, endpoint, server_factory, tmp_path, recorded)
    model = build_model(Settings(), server_factory.account_id(), server_factory.region, local=True)
    functions = {f.name: f.logical for f in model.of_type(FunctionSpec)}

    # 1. Every operator call of every command is allowed by the printed policy.
    by_command: dict[str, list[Observed]] = defaultdict(list)
    for label, observed in recorded.by_label.items():
        by_command[label] += [o for o in observed if o.principal.endswith(OPERATOR)]
    assert set(COMMANDS) <= {label for label, calls in by_command.items() if calls}
    refused = [
        f"{label}: {o.operation} needs {o.action} on {o.resource}"
        for label, calls in by_command.items()
        for o in calls
        if evaluate([printed], o.check) is not Decision.ALLOW
    ]
    assert refused == []
    aws_only = _aws_only_checks(server_factory)
    assert [c for c in aws_only if evaluate([printed], c) is not Decision.ALLOW] == []

    # 2. Each grant of each principal is needed by some call, or kept for a stated reason.
    principals: dict[str, tuple[list[Any], list[Any]]] = {}
    for o in recorded.observed:
        name = _principal_name(o.principal, functions)
        documents = [json.loads(d) for d in o.policies]
        principals.setdefault(name, (documents, []))[1].append(o.check)
    principals[OPERATOR][1].extend(aws_only)
    assert set(principals) == {OPERATOR, *functions.values()}, "a principal made no call in the day"
    unproven: dict[tuple[str, str], str] = {}
    results: dict[str, list[Verdict]] = {}
    for name, (documents, checks) in principals.items():
        results[name] = verdicts(documents, checks)
        for v in results[name]:
            if not v.necessary:
                unproven[(name, v.grant.action)] = v.grant.sid
    _report(results, recorded)
    for key in sorted(set(unproven) - set(KEPT)):
        print("UNPROVEN", key, unproven[key])
    assert sorted(set(unproven) - set(KEPT)) == [], "grants nothing needs: remove them or say why in KEPT"
    assert sorted(set(KEPT) - set(unproven)) == [], "KEPT lists grants the day does need"


def _aws_only_checks(factory: ClientFactory) -> list[Check]:
    checks = []
    for service, operation, params, extra in AWS_ONLY:
        request = Request(service, operation, params, factory.region, factory.account_id())
        checks += [Check(n.action, n.resource, {**context_of(request), **extra}) for n in needs(request)]
    return checks


def _report(results: dict[str, list[Verdict]], recorded: Recording) -> None:
    total = sum(len(v) for v in results.values())
    proven = sum(v.necessary for vs in results.values() for v in vs)
    print(
        f"\nleast privilege: {len(recorded.observed)} distinct checks recorded; {proven}/{total} grants "
        f"proven necessary, {total - proven} kept with a reason, over {len(results)} principals"
    )
    for name, vs in sorted(results.items()):
        print(f"  {name}: {sum(v.necessary for v in vs)}/{len(vs)} proven")
