"""The developer's loop through the real CLI against the moto server: `events generate`, `invoke`, `logs`,
and `local run --until-idle`."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from picops.config import Settings
from picops.local.event_kinds import KINDS
from picops.local.invoke import HandlerUnavailable, resolve_handler
from picops.stack.model import HANDLERS
from picops.stack.names import StackNames
from tests import local_support as ls

pytestmark = pytest.mark.e2e


def _names(factory: Any) -> StackNames:
    return StackNames(Settings(), factory.account_id(), factory.region)


def _available(entry: str) -> bool:
    try:
        resolve_handler(entry)
    except HandlerUnavailable:
        return False
    return True


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# -- events generate -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_events_generate_prints_one_event_with_the_stacks_names(
    cli: Any, endpoint: str, server_factory: Any, kind: str
) -> None:
    result = cli("events", "generate", kind, endpoint=endpoint)
    assert result.exit_code == 0, result.stderr
    event = json.loads(result.stdout)  # exactly one JSON document on stdout
    assert isinstance(event, dict)
    assert "target: local endpoint" in result.stderr
    names = _names(server_factory)
    text = json.dumps(event)
    assert server_factory.account_id() in text or names.uploads_bucket in text or names.stack in text


def test_events_generate_offline_with_an_account_and_options(cli: Any) -> None:
    result = cli(
        "events",
        "generate",
        "s3-put",
        "--account",
        "111122223333",
        "--key",
        "incoming/a b.jpg",
        "--version",
        "v7",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    (record,) = json.loads(result.stdout)["Records"]
    assert record["s3"]["bucket"]["name"] == "picops-uploads-111122223333-us-east-1"
    assert record["s3"]["object"]["key"] == "incoming/a+b.jpg"
    assert record["s3"]["object"]["versionId"] == "v7"
    assert len(result.stdout.strip().splitlines()) == 1  # --json: compact


@pytest.mark.parametrize(
    "args",
    [
        ["kinesis"],
        ["s3-put", "--account", "12"],
        ["s3-batch", "--schema", "9", "--account", "111122223333"],
        ["ddb-stream", "--name", "UPSERT", "--account", "111122223333"],
        ["apigw-http", "--method", "PUT", "--account", "111122223333"],
    ],
)
def test_events_generate_bad_input_exits_2(cli: Any, args: list[str]) -> None:
    result = cli("events", "generate", *args)
    assert result.exit_code == 2, result.stderr
    assert "error:" in result.stderr


# -- invoke ----------------------------------------------------------------------------------------------


def test_generated_stream_event_piped_to_invoke_tags_the_object_and_is_logged(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    names = _names(server_factory)
    key = f"incoming/dev loop {uuid.uuid4()}.jpg"
    server_factory.client("s3").put_object(Bucket=names.uploads_bucket, Key=key, Body=b"img")
    event = cli("events", "generate", "ddb-stream", "--key", key, "--status", "flagged", endpoint=endpoint)
    assert event.exit_code == 0, event.stderr

    result = cli("invoke", "ModerationStreamFunction", "--event", "-", endpoint=endpoint, input=event.stdout)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"batchItemFailures": []}
    # The handler's Powertools log on stderr as one short line (the file keeps the JSON); metrics counted.
    assert "ModerationStreamFunction  object processed" in result.stderr
    assert '"level":' not in result.stderr
    assert '"_aws"' not in result.stderr
    assert "ms, request id" in result.stderr
    tags = server_factory.client("s3").get_object_tagging(Bucket=names.uploads_bucket, Key=key)["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {"moderation-status": "flagged"}

    logs = cli("logs", "ModerationStreamFunction", "--json", endpoint=endpoint)
    assert logs.exit_code == 0, logs.stderr
    lines = _json_lines(logs.stdout)
    assert lines[0]["message"].startswith("START RequestId:")
    processed = [line for line in lines if line["message"] == "object processed"]
    assert len(processed) == 1
    assert processed[0]["level"] == "INFO"
    assert processed[0]["fields"]["key"] == key
    assert processed[0]["fields"]["new"] == "flagged"
    assert lines[-1]["message"].startswith("REPORT RequestId:")

    filtered = cli(
        "logs", "ModerationStreamFunction", "--filter", '{ $.level = "INFO" }', "--json", endpoint=endpoint
    )
    assert filtered.exit_code == 0, filtered.stderr
    assert [line["message"] for line in _json_lines(filtered.stdout)] == ["object processed"]

    table = cli("logs", "picops-moderation-stream", endpoint=endpoint)
    assert table.exit_code == 0, table.stderr
    assert "object processed" in table.stdout
    assert f'key="{key}"' in table.stdout
    assert table.stdout.splitlines()[1].startswith("time")  # after the target line: the header
    # With --log-format json the lines are shown as written; a verdict that changes the tag is counted.
    approved = cli(
        "events", "generate", "ddb-stream", "--key", key, "--status", "approved", endpoint=endpoint
    )
    as_written = cli(
        "invoke",
        "ModerationStreamFunction",
        "--event",
        "-",
        "--log-format",
        "json",
        "--json",
        endpoint=endpoint,
        input=approved.stdout,
    )
    assert as_written.exit_code == 0, as_written.stderr
    assert '"level":"INFO"' in as_written.stderr
    assert as_written.json()["metrics"] == {"ModerationTagged": 1.0}


def test_every_kind_pipes_into_its_function(cli: Any, endpoint: str, server_factory: Any) -> None:
    """`events generate K | picops invoke F --event -` for every pair; a handler not built yet is a clear
    exit 3 naming it, and works as soon as its module exists."""
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    pairs = [
        (["ddb-stream", "--name", "MODIFY"], "ModerationStreamFunction"),
        (["ddb-stream", "--name", "REMOVE"], "ModerationStreamFunction"),
        (["schedule"], "ModerationSweepFunction"),
        (["s3-batch", "--schema", "1.0"], "ModerationSweepFunction"),
        (["s3-batch", "--schema", "2.0"], "ModerationSweepFunction"),
        (["sqs-s3"], "IngestFunction"),
        (["s3-test-event"], "IngestFunction"),
        (["apigw-http", "--method", "POST", "--path", "/bookings", "--body", "{}"], "BookingApiFunction"),
        (["apigw-http", "--method", "GET", "--path", "/bookings/b-1"], "BookingApiFunction"),
        (["sqs-fifo", "--queue", "InventoryQueue", "--group", "g1"], "InventoryFunction"),
        (["sqs-fifo", "--queue", "PaymentQueue", "--group", "g1"], "PaymentFunction"),
    ]
    covered = {args[0] for args, _ in pairs}
    assert covered == set(KINDS) - {"s3-put"}  # a bare S3 notification reaches no function of the stack
    for args, function in pairs:
        event = cli("events", "generate", *args, endpoint=endpoint)
        assert event.exit_code == 0, (args, event.stderr)
        result = cli("invoke", function, "--event", "-", "--json", endpoint=endpoint, input=event.stdout)
        entry = HANDLERS[function]
        if _available(entry):
            assert result.exit_code == 0, (args, function, result.stderr)
            doc = result.json()
            assert doc["logical"] == function
            assert doc["error"] is None
        else:
            assert result.exit_code == 3, (args, function, result.stderr)
            assert f"handler not available: {entry}" in result.stderr
            assert result.stdout == ""


def test_invoke_without_an_event_uses_the_triggers_event(cli: Any, endpoint: str) -> None:
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    result = cli("invoke", "ModerationSweepFunction", "--json", endpoint=endpoint)
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["event_kind"] == "schedule"
    assert doc["mode"] == "local"
    assert doc["response"]["cycle_complete"] is True
    assert doc["duration_ms"] > 0
    assert "generated schedule event" in result.stderr


def test_invoke_a_raising_handler_exits_1_with_type_and_message(
    cli: Any, endpoint: str, tmp_path: Any
) -> None:
    bad = tmp_path / "batch.json"
    bad.write_text(json.dumps({"invocationSchemaVersion": "9.9", "tasks": []}))
    result = cli("invoke", "ModerationSweepFunction", "--event", str(bad), endpoint=endpoint)
    assert result.exit_code == 1, result.stderr
    assert "raised ValueError: unsupported S3 Batch Operations invocationSchemaVersion '9.9'" in result.stderr
    assert "Traceback" not in result.stderr
    verbose = cli("-v", "invoke", "ModerationSweepFunction", "--event", str(bad), endpoint=endpoint)
    assert verbose.exit_code == 1
    assert "Traceback" in verbose.stderr
    logs = cli("logs", "ModerationSweepFunction", "--filter", "ERROR", "--json", endpoint=endpoint)
    assert any(
        "[ERROR] ValueError" in line["message"] or line["level"] == "ERROR"
        for line in _json_lines(logs.stdout)
    )


def test_invoke_unknown_function_exits_3_naming_it(cli: Any, endpoint: str) -> None:
    result = cli("invoke", "NoSuchFunction", endpoint=endpoint)
    assert result.exit_code == 3
    assert "NoSuchFunction" in result.stderr
    assert "IngestFunction" in result.stderr  # the known ones are listed


@pytest.mark.parametrize("content", ["{not json", ""])
def test_invoke_bad_event_file_exits_2(cli: Any, endpoint: str, tmp_path: Any, content: str) -> None:
    path = tmp_path / "event.json"
    path.write_text(content)
    result = cli("invoke", "ModerationSweepFunction", "--event", str(path), endpoint=endpoint)
    assert result.exit_code == 2
    assert "not JSON" in result.stderr
    missing = cli(
        "invoke", "ModerationSweepFunction", "--event", str(tmp_path / "nope.json"), endpoint=endpoint
    )
    assert missing.exit_code == 2
    assert "nope.json" in missing.stderr
    stdin = cli("invoke", "ModerationSweepFunction", "--event", "-", endpoint=endpoint, input="[1,")
    assert stdin.exit_code == 2
    assert "stdin" in stdin.stderr


def test_invoke_in_process_refuses_real_aws(cli: Any) -> None:
    result = cli("invoke", "ModerationSweepFunction")
    assert result.exit_code == 2
    assert "--remote" in result.stderr


def test_invoke_remote_on_a_function_not_deployed_exits_3(cli: Any, endpoint: str) -> None:
    result = cli("invoke", "ModerationSweepFunction", "--remote", endpoint=endpoint)
    assert result.exit_code == 3, result.stderr
    assert "Invoke" in result.stderr


# -- logs ------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("iam_off")
def test_logs_unknown_function_exits_3_and_bad_since_exits_2(cli: Any, endpoint: str) -> None:
    unknown = cli("logs", "NoSuchFunction", endpoint=endpoint)
    assert unknown.exit_code == 3
    assert "NoSuchFunction" in unknown.stderr
    bad = cli("logs", "ModerationSweepFunction", "--since", "last week", endpoint=endpoint)
    assert bad.exit_code == 2
    assert "--since" in bad.stderr
    nothing = cli("logs", "ModerationSweepFunction", "--json", endpoint=endpoint)
    assert nothing.exit_code == 0
    assert nothing.stdout == ""
    assert "no invocations of ModerationSweepFunction recorded yet" in nothing.stderr


# -- local run --until-idle --------------------------------------------------------------------------------


def _test_queue(factory: Any, visibility: int) -> tuple[str, str]:
    sqs = factory.client("sqs")
    url = sqs.create_queue(
        QueueName=f"idle-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": str(visibility)}
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


@pytest.mark.usefixtures("iam_off")
def test_until_idle_drains_and_reports_per_function_counts(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    url, arn = _test_queue(server_factory, 30)
    ls.record_mapping(
        server_factory,
        ls.mapping_record(
            "TestMapping", queue_arn=arn, handler="tests.local_support.partial_handler", batch_size=2
        ),
    )
    sqs = server_factory.client("sqs")
    for i in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=f"ok-{i}")
    result = cli("local", "run", "--until-idle", "--json", endpoint=endpoint)
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["idle"] is True
    assert doc["pending"] == []
    (mapping,) = doc["mappings"]
    assert mapping["records"] == 5
    (function,) = doc["functions"]
    assert function["logical"] == "IngestFunction"
    assert function["invocations"] == mapping["invocations"] >= 3
    assert function["errors"] == 0
    assert function["max_ms"] >= function["mean_ms"] > 0
    assert ls.queue_counts(server_factory, url) == (0, 0)
    # The runtime wrote each invocation to the function's log file.
    logs = cli("logs", "IngestFunction", "--json", endpoint=endpoint)
    starts = [line for line in _json_lines(logs.stdout) if line["message"].startswith("START RequestId:")]
    assert len(starts) == function["invocations"]


@pytest.mark.usefixtures("iam_off")
def test_until_idle_times_out_with_what_is_pending(cli: Any, endpoint: str, server_factory: Any) -> None:
    # A message that always fails, on a queue that makes it visible again at once: the queue never empties.
    url, arn = _test_queue(server_factory, 0)
    ls.record_mapping(
        server_factory,
        ls.mapping_record("TestMapping", queue_arn=arn, handler="tests.local_support.partial_handler"),
    )
    server_factory.client("sqs").send_message(QueueUrl=url, MessageBody="fail-always")
    result = cli("local", "run", "--until-idle", "--timeout", "3", "--json", endpoint=endpoint)
    assert result.exit_code == 1, result.stderr
    doc = result.json()
    assert doc["idle"] is False
    (pending,) = doc["pending"]
    assert pending["logical"] == "TestMapping"
    assert pending["source"] == "TestQueue"
    assert doc["mappings"][0]["status"] == "ok"  # reported failures are not function errors


@pytest.mark.parametrize(
    "args", [["--timeout", "3"], ["--until-idle", "--once"], ["--until-idle", "--duration", "1"]]
)
def test_until_idle_flag_conflicts_exit_2(cli: Any, endpoint: str, args: list[str]) -> None:
    result = cli("local", "run", *args, endpoint=endpoint)
    assert result.exit_code == 2
