"""Every AWS failure leaves the CLI as exit 3 (2 where the user's input is at fault) with one line naming the
operation, the resource and the error code, and a fix where one is known; a traceback only with -v.

The errors are injected client-side (a `before-call` hook, as botocore's Stubber does) so the request that
fails is the one the command really sends, and nothing reaches the network.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.awsrequest
import pytest

from picops.aws import ClientFactory
from picops.core.dlq.messages import QueueMessage
from tests.e2e.test_cli_foundation import registered_commands

# Nothing listens here; every call is answered by the hook before anything is sent.
ENDPOINT = "http://127.0.0.1:9"
ACCOUNT = "123456789012"

Answer = Callable[[str, str, dict[str, Any]], tuple[int, dict[str, Any]] | None]


def _error(status: int, code: str, message: str = "") -> tuple[int, dict[str, Any]]:
    error: dict[str, Any] = {"Code": code}
    if message:
        error["Message"] = message
    return status, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}


@pytest.fixture
def inject(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Answer], list[str]]]:
    """inject(answer): every client the CLI makes asks `answer(service, operation, params)` first; a
    (status, parsed) it returns is the response (an error when status >= 300), None lets the call go on.
    STS GetCallerIdentity answers with a fixed account unless `answer` says otherwise. Returns the list of
    operations seen."""
    seen: list[str] = []
    holder: dict[str, Answer] = {"answer": lambda service, operation, params: None}
    original = ClientFactory.client

    def client(self: ClientFactory, service: str, *, concurrency: int = 10) -> Any:
        made = original(self, service, concurrency=concurrency)
        if not getattr(made, "_picops_injected", False):
            made.meta.events.register("before-call.*.*", hook, unique_id="picops-test-inject")
            made._picops_injected = True
        return made

    def hook(model: Any, params: dict[str, Any], **_: Any) -> Any:
        service = model.service_model.service_name
        operation = model.name
        seen.append(f"{service}.{operation}")
        answer = holder["answer"](service, operation, params.get("body") or {})
        if answer is None and operation == "GetCallerIdentity":
            answer = (200, {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/t", "UserId": "u"})
        if answer is None:
            return None
        status, parsed = answer
        return botocore.awsrequest.AWSResponse(ENDPOINT, status, {}, None), parsed

    monkeypatch.setattr(ClientFactory, "client", client)

    def install(answer: Answer) -> list[str]:
        holder["answer"] = answer
        return seen

    return install


def _only_error_line(stderr: str) -> None:
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr


# -- the named cases of the issue --------------------------------------------------------------------------


def test_status_without_list_bucket_is_exit_3_naming_headbucket_and_the_bucket(cli: Any, inject: Any) -> None:
    """HeadBucket's bare 403 (no error body): `picops status` run by someone without s3:ListBucket."""

    def answer(service: str, operation: str, params: dict[str, Any]) -> Any:
        return _error(403, "403") if operation == "HeadBucket" else _error(400, "Unexpected")

    inject(answer)
    result = cli("status", endpoint=ENDPOINT)
    assert result.exit_code == 3, result.stderr
    _only_error_line(result.stderr)
    assert "HeadBucket" in result.stderr or "Unexpected" in result.stderr


@pytest.mark.parametrize(("status", "fragment"), [(403, "access denied"), (404, "resource missing")])
def test_bare_403_and_404_from_headbucket_name_the_bucket(
    cli: Any, inject: Any, status: int, fragment: str
) -> None:
    """`picops status` reads each bucket with HeadBucket, whose errors have no body: the code is the
    status. A 403 (no s3:ListBucket, or another account's bucket) must not read as "missing", nor crash."""

    def answer(service: str, operation: str, params: dict[str, Any]) -> Any:
        if operation == "HeadBucket":
            return _error(status, str(status))
        return None if operation == "GetCallerIdentity" else _error(400, "NotReachedInThisTest")

    seen = inject(answer)
    result = cli("status", endpoint=ENDPOINT)
    if status == 404:
        # A missing bucket is a normal status answer ("create"); what follows still fails, as exit 3.
        assert result.exit_code == 3, result.stderr
        _only_error_line(result.stderr)
        return
    assert "s3.HeadBucket" in seen
    assert result.exit_code == 3, result.stderr
    _only_error_line(result.stderr)
    assert fragment in result.stderr
    assert "HeadBucket" in result.stderr
    assert f": {status}" in result.stderr
    # the first of the stack's buckets status reads (uploads, processed or the access-log bucket)
    assert "s3://picops-" in result.stderr
    assert "-123456789012-us-east-1" in result.stderr
    assert "s3:ListBucket" in result.stderr


def test_second_purge_within_60_seconds_is_exit_3_with_the_wait(
    cli: Any, inject: Any, endpoint: str, server_factory: Any
) -> None:
    """A real queue on the moto server; SQS's answer to a second PurgeQueue within 60 s is injected (moto
    does not enforce the 60 s rule)."""
    sqs = server_factory.client("sqs")
    url = sqs.create_queue(QueueName="picops-ingest-dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")

    def answer(service: str, operation: str, params: dict[str, Any]) -> Any:
        if operation == "PurgeQueue":
            return _error(
                403,
                "AWS.SimpleQueueService.PurgeQueueInProgress",
                "Only one PurgeQueue operation on picops-ingest-dlq is allowed every 60 seconds.",
            )
        return None

    inject(answer)
    result = cli("dlq", "purge", "IngestDLQ", "--yes", endpoint=endpoint)
    assert result.exit_code == 3, result.stderr
    _only_error_line(result.stderr)
    assert "PurgeQueue" in result.stderr
    assert "PurgeQueueInProgress" in result.stderr
    assert "picops-ingest-dlq" in result.stderr
    assert "60 seconds" in result.stderr


def test_throttling_that_outlived_the_retries_is_exit_3(cli: Any, inject: Any) -> None:
    inject(lambda s, op, p: None if op == "GetCallerIdentity" else _error(400, "ThrottlingException", "Rate"))
    result = cli("dlq", "list", endpoint=ENDPOINT)
    assert result.exit_code == 3, result.stderr
    _only_error_line(result.stderr)
    assert "ThrottlingException" in result.stderr
    assert "throttled" in result.stderr


@pytest.mark.parametrize("code", ["BucketAlreadyExists", "BucketAlreadyOwnedByYou"])
def test_a_bucket_name_taken_is_exit_2_with_the_setting_to_change(
    cli: Any, inject: Any, endpoint: str, code: str
) -> None:
    """Provision on the moto server, with S3's answer for a derived bucket name another account holds."""

    def answer(service: str, operation: str, params: dict[str, Any]) -> Any:
        if operation == "CreateBucket":
            return _error(409, code, "The requested bucket name is not available.")
        return None

    inject(answer)
    result = cli("provision", "--yes", endpoint=endpoint)
    assert result.exit_code == 2, result.stderr
    _only_error_line(result.stderr)
    assert "CreateBucket" in result.stderr
    assert code in result.stderr
    assert "s3://picops-" in result.stderr
    assert "[ingest] uploads_bucket" in result.stderr


def test_verbose_shows_the_traceback_too(cli: Any, inject: Any) -> None:
    inject(lambda s, op, p: None if op == "GetCallerIdentity" else _error(500, "InternalFailure", "boom"))
    quiet = cli("dlq", "list", endpoint=ENDPOINT)
    loud = cli("-v", "dlq", "list", endpoint=ENDPOINT)
    assert quiet.exit_code == loud.exit_code == 3
    assert "Traceback" not in quiet.stderr
    assert "Traceback" in loud.stderr
    assert "InternalFailure" in loud.stderr


# -- every command ---------------------------------------------------------------------------------------

# Arguments a command needs to get as far as AWS; everything else runs with none.
ARGS: dict[str, list[str]] = {
    "dlq peek": ["IngestDLQ"],
    "dlq redrive": ["IngestDLQ", "--yes"],
    "dlq purge": ["IngestDLQ", "--yes"],
    "dlq replay": ["{archive}", "--to", "IngestQueue"],
    "destroy": ["--yes"],
    "provision": ["--yes"],
}
# Commands that never talk to AWS (they manage the embedded endpoint's process): nothing to inject into.
NO_AWS = {"local up", "local down", "local status"}
# The commands this sweep was written against: each must send a request and map its failure to exit 3.
KNOWN = {
    "demo", "deploy", "provision", "destroy", "status", "tag-backfill", "local run",
    "dlq list", "dlq peek", "dlq redrive", "dlq replay", "dlq purge",
}  # fmt: skip
# Commands that run a handler in-process: an AWS error inside the handler is the handler's to report, as
# Lambda would see it (an SQS handler turns it into a batchItemFailures entry and a retry), not the command's.
HANDLER_RUNNERS = {"invoke"}
# Placeholder values for the required arguments of commands added after KNOWN, by parameter name.
PLACEHOLDERS = {
    "queue": "IngestDLQ",
    "function": "IngestFunction",
    "file": "{archive}",
    "key": "incoming/a.jpg",
}


def _arguments_for(command: str, click_command: Any) -> list[str]:
    if command in ARGS:
        return ARGS[command]
    args: list[str] = []
    for param in click_command.params:
        if not param.required:
            continue
        value = next((v for k, v in PLACEHOLDERS.items() if k in param.name), "x")
        if param.param_type_name == "option":
            args += [param.opts[0], value]
        else:
            args.append(value)
    if any("--yes" in getattr(p, "opts", ()) for p in click_command.params):
        args.append("--yes")
    return args


@pytest.mark.usefixtures("iam_off")
@pytest.mark.parametrize(("command", "click_command"), registered_commands(), ids=lambda v: str(v))
def test_every_command_maps_a_generic_client_error_to_exit_3(
    command: str, click_command: Any, cli: Any, inject: Any, tmp_path: Path
) -> None:
    if command in NO_AWS:
        pytest.skip(f"`picops {command}` manages the local endpoint process and sends no AWS request")
    archive = tmp_path / "archive.jsonl"
    record = QueueMessage(message_id="m1", body="b").to_record(
        queue_arn=f"arn:aws:sqs:us-east-1:{ACCOUNT}:picops-ingest-dlq", action="purge"
    )
    archive.write_text(json.dumps(record) + "\n")
    seen = inject(lambda s, op, p: None if op == "GetCallerIdentity" else _error(500, "InjectedFault", "no"))
    args = [a.replace("{archive}", str(archive)) for a in _arguments_for(command, click_command)]
    result = cli(*command.split(), *args, endpoint=ENDPOINT)
    assert result.exception is None, repr(result.exception)
    assert "Traceback" not in result.stderr
    sent = [op for op in seen if op != "sts.GetCallerIdentity"]
    if command in HANDLER_RUNNERS:
        assert sent, f"{command} sent no AWS request"
        assert result.exit_code in (0, 1), (result.exit_code, result.stderr)
        if result.exit_code == 0:
            response = json.loads(result.stdout[result.stdout.index("{") :])
            assert response["batchItemFailures"], "the injected fault must fail the record, not vanish"
        return
    if command not in KNOWN and not sent:
        # A command added since (its arguments guessed): it never reached AWS; it must still fail cleanly.
        assert result.exit_code in (0, 2), (result.exit_code, result.stderr)
        return
    assert sent, f"{command} sent no AWS request"
    assert result.exit_code == 3, (result.exit_code, result.stderr)
    _only_error_line(result.stderr)
    assert "InjectedFault" in result.stderr
