"""batch_handler on Powertools' S3 Batch Operations data classes: one-task invocations (what AWS sends) come
back in exactly Powertools' response shape; malformed tasks fail permanently without failing the others."""

from __future__ import annotations

import copy
from typing import Any

import botocore.exceptions
import pytest
from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
    S3BatchOperationResponse,
    S3BatchOperationResponseRecord,
)

from tests import tagging_support as ts
from tests.conftest import load_event
from tests.functional.test_moderation_handlers import FakeContext, _stack, handlers  # noqa: F401


def test_one_task_response_is_powertools_shape(handlers: Any, aws: Any) -> None:  # noqa: F811
    stack = _stack(aws)
    ts.put_verdicts(aws, stack.moderation_table, {"incoming/with space.jpg": "flagged"})
    event = load_event("s3_batch_operations_1_0.json")
    response = handlers.batch_handler(event, FakeContext())
    expected = S3BatchOperationResponse(
        event["invocationSchemaVersion"], event["invocationId"], "PermanentFailure"
    )
    expected.add_result(
        S3BatchOperationResponseRecord("dGFza2lkZ29lc2hlcmUK", "Succeeded", "tagged: flagged")
    )
    assert response == expected.asdict()
    assert ts.tags_of(aws, stack.uploads_bucket, "incoming/with space.jpg")[ts.TAG_KEY] == "flagged"


def test_malformed_tasks_fail_permanently_and_alone(handlers: Any, aws: Any) -> None:  # noqa: F811
    stack = _stack(aws)
    ts.put_verdicts(aws, stack.moderation_table, {"incoming/plus+sign.jpg": "approved"})
    event = copy.deepcopy(load_event("s3_batch_operations_2_0.json"))
    event["tasks"][1]["s3Key"] = ""
    del event["tasks"][2]["s3Bucket"]
    codes = {r["taskId"]: r for r in handlers.batch_handler(event, FakeContext())["results"]}
    assert codes["dGFza2lkZ29lc2hlcmUK"]["resultCode"] == "Succeeded"
    assert codes["dGFza2lkZ29lc2hlcmUL"]["resultCode"] == "PermanentFailure"
    assert "malformed task" in codes["dGFza2lkZ29lc2hlcmUL"]["resultString"]
    assert codes["dGFza2lkZ29lc2hlcmUM"]["resultCode"] == "PermanentFailure"
    assert ts.tags_of(aws, stack.uploads_bucket, "incoming/plus+sign.jpg")[ts.TAG_KEY] == "approved"


def _refused(code: str) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": code}}, "GetObjectAttributes")


class _S3:
    def __init__(self, code: str) -> None:
        self.code = code

    def get_object_attributes(self, **_: Any) -> dict[str, Any]:
        raise _refused(self.code)


def test_identity_lookup_raises_a_missing_grant_and_shrugs_off_a_missing_object() -> None:
    from picops.core.tagging.ledger import with_identity
    from picops.core.tagging.model import Candidate

    candidate = Candidate("b", "incoming/a.jpg")
    assert with_identity(_S3("NoSuchKey"), candidate) == candidate  # gone: no identity, no ledger entry
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        with_identity(_S3("AccessDenied"), candidate)


def test_a_refused_identity_lookup_fails_the_task_naming_the_grants(
    handlers: Any,  # noqa: F811
    aws: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stack = _stack(aws)
    ts.put_verdicts(aws, stack.moderation_table, {"incoming/with space.jpg": "flagged"})

    def refuse(s3: Any, candidate: Any) -> Any:
        raise _refused("AccessDenied")

    monkeypatch.setattr(handlers, "with_identity", refuse)
    response = handlers.batch_handler(load_event("s3_batch_operations_1_0.json"), FakeContext())
    (result,) = response["results"]
    assert result["resultCode"] == "PermanentFailure"
    assert "s3:GetObject and s3:GetObjectAttributes" in result["resultString"]
