"""The moderation Lambdas' generated IAM policies match what their code actually calls.

Each handler runs on moto with the real-shaped events in tests/events/; a botocore `before-call` hook on every
client picops makes records each API call (with its parameters, captured at `before-parameter-build` of the
same request). Every call is mapped to the IAM action(s) and resource ARN AWS authorises it with, and must be
granted by the function's role in the model `provision` applies. The other way round, every granted action
must be one the code called, or one the Lambda service uses with the role on the function's behalf (listed
below with the reason), so a grant nothing uses fails too. moto does not evaluate policies; this is the check.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import pytest

from picops.aws import ClientFactory
from picops.handlers import _env
from picops.stack.build import build_model
from picops.stack.iam import SQS_CONSUME, STREAM_LIST, STREAM_READ
from picops.strict.actions import Need, Request, UnknownOperation, context_of, needs
from picops.strict.policy import Check, Decision, evaluate
from tests import tagging_support as ts
from tests.conftest import load_event

ACCOUNT, REGION = "123456789012", "us-east-1"
STREAM_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:picops-moderation-stream"
SWEEP_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:picops-moderation-sweep"

# Granted for the Lambda service, which acts with the function's role: not calls the handler code makes.
SERVICE_SIDE: dict[str, dict[str, str]] = {
    "ModerationStreamFunction": {
        "logs:CreateLogStream": "the runtime writes the function's logs",
        "logs:PutLogEvents": "the runtime writes the function's logs",
        **dict.fromkeys(STREAM_READ, "the event source mapping polls ModerationTable's stream"),
        **dict.fromkeys(STREAM_LIST, "the mapping lists the table's streams (authorised only on *)"),
        "sns:Publish": "the mapping's on-failure destination (AlertsTopic)",
    },
    "ModerationSweepFunction": {
        "logs:CreateLogStream": "the runtime writes the function's logs",
        "logs:PutLogEvents": "the runtime writes the function's logs",
        "sqs:SendMessage": "Lambda sends a raised sweep's record to SweepDLQ, its on-failure destination",
    },
    "IngestFunction": {
        "logs:CreateLogStream": "the runtime writes the function's logs",
        "logs:PutLogEvents": "the runtime writes the function's logs",
        # Not service-side, but a path this scenario does not take: a notification without a versionId (the
        # object's `null` version) reads the current version, which S3 authorises with s3:GetObject.
        "s3:GetObject": "an upload notified without a versionId is read as the current version",
        # The claim returns the held job itself (ReturnValuesOnConditionCheckFailure); a Batch Operations
        # backfill task reads the version's job to see which renditions it lacks (core/ingest/backfill.py).
        "dynamodb:GetItem": "a backfill task (batch_handler) reads the version's job",
        **dict.fromkeys(SQS_CONSUME, "the event source mapping polls IngestQueue"),
    },
}


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    params: dict[str, Any]


def _table(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def needs_of(call: Call) -> list[Need]:
    """The (action, resource) pairs AWS checks for `call`: strict mode's mapping (strict/actions.py)."""
    return needs(Request(call.service, call.operation, call.params, REGION, ACCOUNT))


def allows(policy: dict[str, Any], call: Call, need: Need, **context: list[str]) -> bool:
    check = Check(need.action, need.resource, {**context_of(_request(call)), **context})
    return evaluate([policy], check) is Decision.ALLOW


def _request(call: Call) -> Request:
    return Request(call.service, call.operation, call.params, REGION, ACCOUNT)


class Recorder:
    """Records the API calls of every client picops builds while `armed` (not the test's own arranging)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.armed = False

    def attach(self, client: Any) -> None:
        events = client.meta.events
        events.register("before-parameter-build.*.*", self._params, unique_id="iam-test-params")
        events.register("before-call.*.*", self._call, unique_id="iam-test-call")

    @staticmethod
    def _params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["iam_test_params"] = dict(params)

    def _call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        if self.armed:
            service = model.service_model.service_name
            self.calls.append(Call(service, model.name, context.get("iam_test_params", {})))

    def run(self, handler: Callable[..., Any], event: dict[str, Any], context: Any) -> Any:
        self.armed = True
        try:
            return handler(event, context)
        finally:
            self.armed = False


@dataclass
class FakeContext:
    invoked_function_arn: str
    remaining_ms: int = 900_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def recorder(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:

    recording = Recorder()
    original = ClientFactory.client

    def client(self: ClientFactory, service: str, *, concurrency: int = 10) -> Any:
        made = original(self, service, concurrency=concurrency)
        recording.attach(made)
        return made

    monkeypatch.setattr(ClientFactory, "client", client)
    monkeypatch.setenv("AWS_REGION", REGION)
    _env.reset()
    yield recording
    _env.reset()


def _policy(function: str) -> dict[str, Any]:

    model = build_model(_env.settings(), ACCOUNT, REGION)
    document: dict[str, Any] = json.loads(model.get(f"{function}Role").document)  # type: ignore[attr-defined]
    return document


def _glob(pattern: str) -> re.Pattern[str]:
    # IAM resource wildcards: `*` any run of characters (including `/`), `?` one character.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex + r"\Z")


def ungranted(calls: list[Call], policy: dict[str, Any]) -> list[str]:
    """Each call's needs that `policy` does not allow, evaluated as strict local mode evaluates them."""
    problems = []
    for call in calls:
        try:
            required = needs_of(call)
        except UnknownOperation as exc:
            problems.append(str(exc))
            continue
        for need in required:
            if not allows(policy, call, need):
                problems.append(f"{call.service}:{call.operation} needs {need.action} on {need.resource}")
    return sorted(set(problems))


def leading_keys(call: Call) -> list[str]:
    """The partition keys a DynamoDB call touches (what `dynamodb:LeadingKeys` conditions see)."""
    keys: list[str] = []
    if call.operation == "BatchGetItem":
        for spec in call.params["RequestItems"].values():
            keys += [k["pk"]["S"] for k in spec["Keys"] if "pk" in k]
    elif call.operation == "BatchWriteItem":
        for requests in call.params["RequestItems"].values():
            for r in requests:
                body = r.get("PutRequest", {}).get("Item") or r.get("DeleteRequest", {}).get("Key")
                keys.append(body["pk"]["S"])
    return keys


def condition_violations(calls: list[Call], policy: dict[str, Any], table: str) -> list[str]:
    """Calls on `table` touching a partition key the policy's `dynamodb:LeadingKeys` conditions refuse."""
    problems = []
    for call in calls:
        if call.service != "dynamodb" or table not in call.params.get("RequestItems", {}):
            continue
        for key in leading_keys(call):
            for need in needs_of(call):
                if need.resource == _table(table) and not allows(
                    policy, call, need, **{"dynamodb:LeadingKeys": [key]}
                ):
                    problems.append(f"{call.operation} on {table} touches {key!r} outside the granted prefix")
    return sorted(set(problems))


def unused(function: str, calls: list[Call], policy: dict[str, Any]) -> list[str]:
    used = {need.action for call in calls for need in needs_of(call)}
    granted = {action for s in policy["Statement"] for action in s["Action"]}
    return sorted(granted - used - set(SERVICE_SIDE[function]))


def _uploads(aws: Any) -> tuple[Any, dict[str, str | None]]:
    # Provision versions UploadsBucket: run on a versioned bucket as in production.
    stack = ts.create_stack(aws, versioned=True)
    versions = ts.put_objects(
        aws,
        stack.uploads_bucket,
        ts.ODD_KEYS,
        {"incoming/plus+sign.jpg": {ts.TAG_KEY: "flagged", "owner": "ana"}},
    )
    ts.put_verdicts(
        aws,
        stack.moderation_table,
        {"incoming/with space.jpg": "approved", "incoming/plus+sign.jpg": "rejected"},
    )
    return stack, versions


def _stream_calls(recorder: Recorder, aws: Any, monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    from picops.handlers import moderation

    stack, _ = _uploads(aws)
    context = FakeContext(STREAM_ARN)
    event = load_event("dynamodb_stream_moderation.json")
    assert recorder.run(moderation.stream_handler, event, context) == {"batchItemFailures": []}
    # `[moderation] on_remove = "remove"`: the REMOVE record rewrites the tag set without the verdict.
    monkeypatch.setenv("PICOPS_MODERATION__ON_REMOVE", "remove")
    _env.reset()
    assert recorder.run(moderation.stream_handler, event, context) == {"batchItemFailures": []}
    assert ts.tags_of(aws, stack.uploads_bucket, "incoming/plus+sign.jpg") == {"owner": "ana"}
    return recorder.calls


def _sweep_calls(recorder: Recorder, aws: Any) -> list[Call]:
    from picops.handlers import moderation

    stack, versions = _uploads(aws)
    context = FakeContext(SWEEP_ARN)
    schedule = load_event("eventbridge_scheduled.json")
    # First run: no continuation point yet; second run: reads the one the first saved.
    for _ in range(2):
        summary = recorder.run(moderation.sweep_handler, schedule, context)
        assert summary["cycle_complete"] is True
    assert ts.tags_of(aws, stack.uploads_bucket, "incoming/with space.jpg")[ts.TAG_KEY] == "approved"
    # S3 Batch Operations reaches batch_handler through the sweeper's handler (the job targets its alias).
    for name in ("s3_batch_operations_1_0.json", "s3_batch_operations_2_0.json"):
        response = recorder.run(moderation.sweep_handler, load_event(name), context)
        assert response["results"], response
    # A manifest with versions: the tasks name them (and a changed verdict makes one write).
    ts.put_verdicts(aws, stack.moderation_table, {"incoming/plus+sign.jpg": "flagged"})
    versioned = load_event("s3_batch_operations_2_0.json")
    for task in versioned["tasks"]:
        task["s3VersionId"] = versions.get(unquote_plus(task["s3Key"]))
    response = recorder.run(moderation.sweep_handler, versioned, context)
    assert response["results"][0]["resultCode"] == "Succeeded", response
    assert response["results"][0]["resultString"] == "tagged: flagged", response
    assert any(c.params.get("VersionId") for c in recorder.calls if c.operation == "PutObjectTagging")
    return recorder.calls


def test_stream_function_policy_grants_exactly_what_its_handler_calls(
    recorder: Recorder, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _stream_calls(recorder, aws, monkeypatch)
    assert {c.operation for c in calls} >= {"GetObjectTagging", "PutObjectTagging", "BatchWriteItem"}
    policy = _policy("ModerationStreamFunction")
    assert ungranted(calls, policy) == []
    assert unused("ModerationStreamFunction", calls, policy) == []
    # The tag ledger's grant on JobsTable is limited to LEDGER# items, and the code stays inside it.
    assert condition_violations(calls, policy, "picops-jobs") == []


def test_sweep_function_policy_grants_exactly_what_its_handler_calls(recorder: Recorder, aws: Any) -> None:
    calls = _sweep_calls(recorder, aws)
    assert {c.operation for c in calls} >= {
        "ListObjectsV2",
        "BatchGetItem",
        "GetObjectTagging",
        "PutObjectTagging",
        "GetObject",
        "PutObject",
        "BatchWriteItem",
        "GetObjectAttributes",
    }
    assert any(
        "picops-jobs" in c.params.get("RequestItems", {}) for c in calls if c.operation == "BatchGetItem"
    )
    policy = _policy("ModerationSweepFunction")
    assert ungranted(calls, policy) == []
    assert unused("ModerationSweepFunction", calls, policy) == []
    assert condition_violations(calls, policy, "picops-jobs") == []
    # Without the condition check a grant on the whole table would pass: it must name the prefix.
    assert condition_violations(
        [
            Call(
                "dynamodb",
                "BatchWriteItem",
                {
                    "RequestItems": {
                        "picops-jobs": [
                            {"PutRequest": {"Item": {"pk": {"S": "OBJ#b/k"}, "sk": {"S": "V#1"}}}}
                        ]
                    }
                },
            )
        ],
        policy,
        "picops-jobs",
    ) == ["BatchWriteItem on picops-jobs touches 'OBJ#b/k' outside the granted prefix"]


def test_the_check_fails_when_policy_and_code_drift_apart(recorder: Recorder, aws: Any) -> None:
    calls = _sweep_calls(recorder, aws)
    policy = _policy("ModerationSweepFunction")
    # The gap this test was written for: no grant on the continuation object.
    without_checkpoint = copy.deepcopy(policy)
    without_checkpoint["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "SweepCheckpoint"]
    problems = ungranted(calls, without_checkpoint)
    assert any("s3:PutObject on arn:aws:s3:::picops-uploads-" in p for p in problems), problems
    # (Reading it stays granted: GetObjectAttributes needs s3:GetObject on every upload, IdentifyUploads.)
    # A grant on the wrong resource does not count.
    elsewhere = copy.deepcopy(policy)
    for statement in elsewhere["Statement"]:
        if statement["Sid"] == "ReadVerdicts":
            statement["Resource"] = [_table("some-other-table")]
    assert any("dynamodb:BatchGetItem" in p for p in ungranted(calls, elsewhere))
    # A grant nothing calls is reported.
    extra = copy.deepcopy(policy)
    scan = {
        "Sid": "X",
        "Effect": "Allow",
        "Action": ["dynamodb:Scan"],
        "Resource": [_table("picops-moderation")],
    }
    extra["Statement"].append(scan)
    assert unused("ModerationSweepFunction", calls, extra) == ["dynamodb:Scan"]
    # A call the Service Authorization Reference has no action for is reported rather than passed.
    assert ungranted([Call("s3", "FrobnicateObject", {"Bucket": "b", "Key": "k"})], policy) == [
        "s3:FrobnicateObject has no IAM action s3:FrobnicateObject in the reference"
    ]
