"""Strict local mode's IAM model: requests mapped to the actions and ARNs AWS checks (from the Service
Authorization Reference), and identity policies evaluated as AWS evaluates them."""

from __future__ import annotations

from typing import Any

import pytest

from picops.strict.actions import (
    ACCESS_LOG_DELIVERY,
    Request,
    UnknownOperation,
    context_of,
    known_action,
    needs,
)
from picops.strict.policy import Check, Decision, evaluate

REGION, ACCOUNT = "us-east-1", "123456789012"
B = "arn:aws:s3:::photos"
FN = "arn:aws:lambda:us-east-1:123456789012:function:"
Q = "arn:aws:sqs:us-east-1:123456789012:picops-ingest"
ROLE_ARN = "arn:aws:iam::123456789012:role/picops-ingest"


def _needs(service: str, operation: str, **params: Any) -> list[tuple[str, str]]:
    return [(n.action, n.resource) for n in needs(Request(service, operation, params, REGION, ACCOUNT))]


@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    [
        ("s3", "GetObject", {"Bucket": "photos", "Key": "a b.jpg"}, [("s3:GetObject", f"{B}/a b.jpg")]),
        (
            "s3",
            "GetObject",
            {"Bucket": "photos", "Key": "k", "VersionId": "v1"},
            [("s3:GetObjectVersion", f"{B}/k")],
        ),
        ("s3", "HeadObject", {"Bucket": "photos", "Key": "k"}, [("s3:GetObject", f"{B}/k")]),
        ("s3", "ListObjectsV2", {"Bucket": "photos"}, [("s3:ListBucket", B)]),
        ("s3", "ListObjectVersions", {"Bucket": "photos"}, [("s3:ListBucketVersions", B)]),
        (
            "s3",
            "GetObjectAttributes",
            {"Bucket": "photos", "Key": "k", "ObjectAttributes": ["ETag"]},
            [("s3:GetObject", f"{B}/k"), ("s3:GetObjectAttributes", f"{B}/k")],
        ),
        (
            "s3",
            "GetObjectAttributes",
            {"Bucket": "photos", "Key": "k", "VersionId": "v", "ObjectAttributes": ["ETag"]},
            [("s3:GetObjectVersion", f"{B}/k"), ("s3:GetObjectVersionAttributes", f"{B}/k")],
        ),
        (
            "s3",
            "DeleteObjects",
            {"Bucket": "photos", "Delete": {"Objects": [{"Key": "a", "VersionId": "1"}, {"Key": "b"}]}},
            [("s3:DeleteObjectVersion", f"{B}/a"), ("s3:DeleteObject", f"{B}/b")],
        ),
        (
            "sqs",
            "SendMessageBatch",
            {"QueueUrl": "http://127.0.0.1:4566/123456789012/picops-ingest", "Entries": []},
            [("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:picops-ingest")],
        ),
        (
            "dynamodb",
            "TransactWriteItems",
            {"TransactItems": [{"Put": {"TableName": "t1"}}, {"ConditionCheck": {"TableName": "t2"}}]},
            [
                ("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:123456789012:table/t1"),
                ("dynamodb:ConditionCheckItem", "arn:aws:dynamodb:us-east-1:123456789012:table/t2"),
            ],
        ),
        (
            "dynamodb",
            "BatchWriteItem",
            {"RequestItems": {"t1": [], "t2": []}},
            [
                ("dynamodb:BatchWriteItem", "arn:aws:dynamodb:us-east-1:123456789012:table/t1"),
                ("dynamodb:BatchWriteItem", "arn:aws:dynamodb:us-east-1:123456789012:table/t2"),
            ],
        ),
        (
            "sns",
            "Publish",
            {"TopicArn": "arn:aws:sns:us-east-1:123456789012:picops-booking.fifo", "Message": "{}"},
            [("sns:Publish", "arn:aws:sns:us-east-1:123456789012:picops-booking.fifo")],
        ),
        (
            "lambda",
            "Invoke",
            {"FunctionName": "picops-ingest", "Qualifier": "live"},
            [("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:picops-ingest")],
        ),
        (
            "logs",
            "PutRetentionPolicy",
            {"logGroupName": "/aws/lambda/picops-ingest", "retentionInDays": 14},
            [
                (
                    "logs:PutRetentionPolicy",
                    "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/picops-ingest",
                )
            ],
        ),
        (
            "iam",
            "GetRole",
            {"RoleName": "picops-ingest"},
            [("iam:GetRole", "arn:aws:iam::123456789012:role/picops-ingest")],
        ),
        ("lambda", "ListEventSourceMappings", {}, [("lambda:ListEventSourceMappings", "*")]),
        ("sts", "GetCallerIdentity", {}, []),
        # Message move tasks are authorised on their source queue (a handle is base64 JSON naming it).
        (
            "sqs",
            "StartMessageMoveTask",
            {"SourceArn": f"{Q}-dlq", "DestinationArn": Q},
            [("sqs:StartMessageMoveTask", f"{Q}-dlq")],
        ),
        (
            "sqs",
            "CancelMessageMoveTask",
            # AWS's documented example handle, for MyDeadLetterQueue in account 111122223333.
            {
                "TaskHandle": "eyJ0YXNrSWQiOiJkYzE2OWUwNC0wZTU1LTQ0ZDItYWE5MC1jMDgwY2ExZjM2ZjciLCJzb3"
                "VyY2VBcm4iOiJhcm46YXdzOnNxczp1cy1lYXN0LTE6MTExMTIyMjIzMzMzOk15RGVhZExldHRlclF1ZXVlIn0="
            },
            [("sqs:CancelMessageMoveTask", "arn:aws:sqs:us-east-1:111122223333:MyDeadLetterQueue")],
        ),
        # A request handing a role to a service needs iam:PassRole on that role too.
        (
            "lambda",
            "CreateFunction",
            {"FunctionName": "picops-ingest", "Role": ROLE_ARN},
            [("lambda:CreateFunction", f"{FN}picops-ingest"), ("iam:PassRole", ROLE_ARN)],
        ),
        (
            "lambda",
            "UpdateFunctionConfiguration",
            {"FunctionName": "picops-ingest", "MemorySize": 512},
            [("lambda:UpdateFunctionConfiguration", f"{FN}picops-ingest")],
        ),
    ],
)
def test_requests_map_to_the_actions_and_arns_aws_checks(
    service: str, operation: str, params: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert _needs(service, operation, **params) == expected


def test_an_access_log_on_a_stage_needs_the_log_delivery_actions() -> None:
    params = {"ApiId": "a1", "StageName": "$default", "AccessLogSettings": {"DestinationArn": "x"}}
    uri = "/v2/apis/{ApiId}/stages/{StageName}"
    request = Request(
        "apigatewayv2", "UpdateStage", params, REGION, ACCOUNT, http_method="PATCH", request_uri=uri
    )
    assert [(n.action, n.resource) for n in needs(request)] == [
        ("apigateway:PATCH", "arn:aws:apigateway:us-east-1::/apis/a1/stages/$default"),
        *((action, "*") for action in ACCESS_LOG_DELIVERY),
    ]
    params.pop("AccessLogSettings")
    assert len(needs(request)) == 1


def test_an_operation_the_reference_does_not_know_is_refused_not_guessed() -> None:
    with pytest.raises(UnknownOperation, match="s3:FrobnicateObject"):
        needs(Request("s3", "FrobnicateObject", {}, REGION, ACCOUNT))
    assert known_action("s3:GetObject")
    assert known_action("S3:getobject".lower())
    assert not known_action("s3:Frobnicate")


def test_condition_keys_of_a_listing_and_a_mapping() -> None:
    listing = Request("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "incoming/a.jpg"}, REGION, ACCOUNT)
    assert context_of(listing) == {"s3:prefix": ["incoming/a.jpg"]}
    mapping = Request(
        "lambda", "CreateEventSourceMapping", {"FunctionName": "picops-ingest:live"}, REGION, ACCOUNT
    )
    assert context_of(mapping) == {
        "lambda:FunctionArn": ["arn:aws:lambda:us-east-1:123456789012:function:picops-ingest:live"]
    }
    job = Request("s3control", "CreateJob", {"RoleArn": ROLE_ARN}, REGION, ACCOUNT)
    assert context_of(job) == {"iam:PassedToService": ["batchoperations.s3.amazonaws.com"]}


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


ALLOW_READ = {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"{B}/incoming/*"]}


@pytest.mark.parametrize(
    ("statements", "check", "decision"),
    [
        ([ALLOW_READ], Check("s3:GetObject", f"{B}/incoming/a.jpg"), Decision.ALLOW),
        ([ALLOW_READ], Check("S3:GETOBJECT", f"{B}/incoming/a.jpg"), Decision.ALLOW),  # actions fold case
        ([ALLOW_READ], Check("s3:GetObject", f"{B}/private/a.jpg"), Decision.IMPLICIT_DENY),
        ([ALLOW_READ], Check("s3:PutObject", f"{B}/incoming/a.jpg"), Decision.IMPLICIT_DENY),
        (
            [ALLOW_READ, {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}],
            Check("s3:GetObject", f"{B}/incoming/a.jpg"),
            Decision.EXPLICIT_DENY,
        ),
        (
            [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}],
            Check("iam:PassRole", "arn:aws:iam::1:role/x"),
            Decision.IMPLICIT_DENY,
        ),
        (
            [{"Effect": "Allow", "Action": "s3:Get?bject", "Resource": f"{B}/*"}],
            Check("s3:GetObject", f"{B}/a/b/c"),
            Decision.ALLOW,
        ),
        (
            [
                {
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": B,
                    "Condition": {"StringLike": {"s3:prefix": ["incoming/*"]}},
                }
            ],
            Check("s3:ListBucket", B, {"s3:prefix": ["incoming/x.jpg"]}),
            Decision.ALLOW,
        ),
        (
            [
                {
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": B,
                    "Condition": {"StringLike": {"s3:prefix": ["incoming/*"]}},
                }
            ],
            Check("s3:ListBucket", B),  # no prefix given: the condition's key is absent, so it is false
            Decision.IMPLICIT_DENY,
        ),
        (
            [
                {
                    "Effect": "Allow",
                    "Action": "dynamodb:BatchWriteItem",
                    "Resource": "*",
                    "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["LEDGER#*"]}},
                }
            ],
            Check("dynamodb:BatchWriteItem", "t", {"dynamodb:LeadingKeys": ["LEDGER#a", "JOB#b"]}),
            Decision.IMPLICIT_DENY,
        ),
        (
            [
                {
                    "Effect": "Allow",
                    "Action": "iam:PassRole",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
                }
            ],
            Check("iam:PassRole", "arn:aws:iam::1:role/x", {"iam:passedtoservice": ["lambda.amazonaws.com"]}),
            Decision.ALLOW,  # condition keys compare case-insensitively
        ),
        (
            [
                {
                    "Effect": "Allow",
                    "Action": "lambda:CreateEventSourceMapping",
                    "Resource": "*",
                    "Condition": {
                        "ArnLike": {"lambda:FunctionArn": ["arn:aws:lambda:*:*:function:picops-*"]}
                    },
                }
            ],
            Check(
                "lambda:CreateEventSourceMapping",
                "*",
                {"lambda:FunctionArn": ["arn:aws:lambda:us-east-1:1:function:other"]},
            ),
            Decision.IMPLICIT_DENY,
        ),
    ],
)
def test_policies_are_evaluated_as_aws_evaluates_them(
    statements: list[dict[str, Any]], check: Check, decision: Decision
) -> None:
    assert evaluate([_policy(*statements)], check) is decision
