"""The guard's per-request context and its recording: dynamodb:LeadingKeys as AWS sets it, and the checks a
recording keeps for the least-privilege proof."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from picops.stack.iam import LEDGER_ONLY
from picops.strict.actions import Request, leading_keys
from picops.strict.guard import Guard, Principal, acting_as, recording

ACCOUNT, REGION = "123456789012", "us-east-1"
JOBS = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/picops-jobs"
ROLE = f"arn:aws:sts::{ACCOUNT}:assumed-role/sweep/picops-moderation-sweep"


def _request(operation: str, **params: Any) -> Request:
    return Request("dynamodb", operation, params, REGION, ACCOUNT)


def _ledger_role() -> Principal:
    statement = {
        "Effect": "Allow",
        "Action": ["dynamodb:BatchWriteItem", "dynamodb:Query", "dynamodb:UpdateItem"],
        "Resource": [JOBS],
        "Condition": LEDGER_ONLY,
    }
    return Principal(ROLE, [{"Version": "2012-10-17", "Statement": [statement]}])


def _guard(table_key: Any = lambda table: "pk") -> Guard:
    return Guard(
        operator_policy=lambda: {"Statement": []},
        operator_arn=lambda: f"arn:aws:iam::{ACCOUNT}:user/op",
        read_role=lambda function: _ledger_role(),
        account=lambda: ACCOUNT,
        table_key=table_key,
    )


def _put(pk: str) -> dict[str, Any]:
    return {"PutRequest": {"Item": {"pk": {"S": pk}, "sk": {"S": "x"}}}}


@pytest.mark.parametrize(
    ("operation", "params", "expected"),
    [
        ("GetItem", {"TableName": "t", "Key": {"pk": {"S": "A"}, "sk": {"S": "1"}}}, ["A"]),
        ("PutItem", {"TableName": "t", "Item": {"pk": {"N": "7"}}}, ["7"]),
        ("UpdateItem", {"TableName": "other", "Key": {"pk": {"S": "A"}}}, []),
        ("BatchWriteItem", {"RequestItems": {"t": [_put("A"), _put("B"), _put("A")]}}, ["A", "B"]),
        (
            "BatchGetItem",
            {"RequestItems": {"t": {"Keys": [{"pk": {"S": "A"}}]}, "u": {"Keys": [{"pk": {"S": "Z"}}]}}},
            ["A"],
        ),
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Update": {"TableName": "t", "Key": {"pk": {"S": "A"}}}},
                    {"Put": {"TableName": "u", "Item": {"pk": {"S": "Z"}}}},
                ]
            },
            ["A"],
        ),
        (
            "Query",
            {
                "TableName": "t",
                "KeyConditionExpression": "#k = :v AND sk > :s",
                "ExpressionAttributeNames": {"#k": "pk"},
                "ExpressionAttributeValues": {":v": {"S": "A"}, ":s": {"S": "0"}},
            },
            ["A"],
        ),
        ("Scan", {"TableName": "t"}, []),
    ],
)
def test_leading_keys_are_the_partition_values_a_request_touches_on_that_table(
    operation: str, params: dict[str, Any], expected: list[str]
) -> None:
    assert leading_keys(_request(operation, **params), "t", "pk") == expected


def test_a_ledger_only_grant_refuses_a_write_outside_the_ledger_prefix() -> None:
    guard = _guard()
    ledger = _request("BatchWriteItem", RequestItems={"picops-jobs": [_put("LEDGER#b/k")]})
    mixed = _request("BatchWriteItem", RequestItems={"picops-jobs": [_put("LEDGER#b/k"), _put("OBJ#b/k")]})
    with acting_as("picops-moderation-sweep"):
        guard.authorise(ledger)
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            guard.authorise(mixed, protocol="json")
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "dynamodb:BatchWriteItem on resource: " + JOBS in str(refused.value)
    assert guard.tally.denied == 1 and guard.tally.checked == 2


def test_without_the_table_schema_no_leading_keys_are_known() -> None:
    # ForAllValues over no values holds, as on AWS for a request with no partition key (a Scan).
    guard = _guard(table_key=lambda table: None)
    with acting_as("picops-moderation-sweep"):
        guard.authorise(_request("BatchWriteItem", RequestItems={"picops-jobs": [_put("OBJ#b/k")]}))


def test_a_recording_keeps_each_allowed_check_with_its_principal_and_label() -> None:
    guard = _guard()
    with recording() as recorded:
        recorded.label = "sweep"
        with acting_as("picops-moderation-sweep"):
            guard.authorise(_request("BatchWriteItem", RequestItems={"picops-jobs": [_put("LEDGER#a")]}))
            with pytest.raises(botocore.exceptions.ClientError):
                guard.authorise(_request("BatchWriteItem", RequestItems={"picops-jobs": [_put("OBJ#a")]}))
    guard.authorise(_request("BatchWriteItem", RequestItems={}))  # after the recording: not kept
    (observed,) = recorded.observed
    assert (observed.principal, observed.action, observed.resource) == (ROLE, "dynamodb:BatchWriteItem", JOBS)
    assert observed.check.context == {"dynamodb:LeadingKeys": ["LEDGER#a"]}
    assert observed.operation == "dynamodb:BatchWriteItem"
    assert recorded.by_label["sweep"] == {observed}
