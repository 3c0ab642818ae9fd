"""Strict local mode's request limits: values AWS refuses are refused before they reach the local endpoint,
with the error code the service answers."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.exceptions
import pytest

from picops.strict.limits import check_request


def _operation(service: str, name: str) -> Any:
    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client.meta.service_model.operation_model(name)


QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/picops-inventory.fifo"
TOPIC = "arn:aws:sns:us-east-1:123456789012:picops-booking.fifo"


@pytest.mark.parametrize(
    ("service", "operation", "params", "code", "member"),
    [
        # The 64-character event and seat ids that once made a 129-character group id.
        (
            "sns",
            "Publish",
            {"TopicArn": TOPIC, "Message": "{}", "MessageGroupId": "e" * 129},
            "InvalidParameter",
            "MessageGroupId",
        ),
        (
            "sqs",
            "SendMessage",
            {
                "QueueUrl": QUEUE,
                "MessageBody": "b",
                "MessageGroupId": "g",
                "MessageDeduplicationId": "d\u00e9" * 2,
            },
            "InvalidParameterValue",
            "MessageDeduplicationId",
        ),
        (
            "sqs",
            "SendMessageBatch",
            {"QueueUrl": QUEUE, "Entries": [{"Id": str(i), "MessageBody": "b"} for i in range(11)]},
            "InvalidParameterValue",
            "Entries",
        ),
        (
            "logs",
            "PutRetentionPolicy",
            {"logGroupName": "/aws/lambda/f", "retentionInDays": 2},
            "InvalidParameterException",
            "retentionInDays",
        ),
        (
            "lambda",
            "CreateEventSourceMapping",
            {
                "FunctionName": "f",
                "EventSourceArn": "arn:aws:sqs:us-east-1:123456789012:q.fifo",
                "MaximumBatchingWindowInSeconds": 5,
            },
            "InvalidParameterValueException",
            "MaximumBatchingWindowInSeconds",
        ),
        (
            "dynamodb",
            "BatchWriteItem",
            {"RequestItems": {"t": [{"PutRequest": {"Item": {"pk": {"S": str(i)}}}} for i in range(26)]}},
            "ValidationException",
            "RequestItems",
        ),
        (
            "s3",
            "PutObjectTagging",
            {
                "Bucket": "b",
                "Key": "k",
                "Tagging": {"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]},
            },
            "InvalidArgument",
            "Tagging.TagSet",
        ),
        # From the service model: a length, a range and an enum.
        (
            "lambda",
            "UpdateFunctionConfiguration",
            {"FunctionName": "f", "Timeout": 5401},
            "InvalidParameterValueException",
            "Timeout",
        ),
        (
            "lambda",
            "UpdateFunctionConfiguration",
            {"FunctionName": "f", "MemorySize": 100},
            "InvalidParameterValueException",
            "MemorySize",
        ),
        (
            "dynamodb",
            "Query",
            {"TableName": "t", "Select": "EVERYTHING", "KeyConditionExpression": "pk = :p"},
            "ValidationException",
            "Select",
        ),
    ],
)
def test_values_aws_refuses_are_refused_with_the_services_code(
    service: str, operation: str, params: dict[str, Any], code: str, member: str
) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        check_request(_operation(service, operation), params)
    error = refused.value.response["Error"]
    assert error["Code"] == code
    assert error["Message"].startswith(member)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize(
    ("service", "operation", "params"),
    [
        (
            "sns",
            "Publish",
            {
                "TopicArn": TOPIC,
                "Message": "{}",
                "MessageGroupId": "e" * 128,
                "MessageDeduplicationId": "01ABC",
            },
        ),
        (
            "sqs",
            "SendMessageBatch",
            {"QueueUrl": QUEUE, "Entries": [{"Id": str(i), "MessageBody": "b"} for i in range(10)]},
        ),
        ("logs", "PutRetentionPolicy", {"logGroupName": "/aws/lambda/f", "retentionInDays": 14}),
        (
            "lambda",
            "CreateEventSourceMapping",
            {
                "FunctionName": "f",
                "EventSourceArn": "arn:aws:sqs:us-east-1:123456789012:q",
                "MaximumBatchingWindowInSeconds": 5,
            },
        ),
        ("lambda", "UpdateFunctionConfiguration", {"FunctionName": "f", "Timeout": 900}),
        ("dynamodb", "Query", {"TableName": "t", "Select": "COUNT", "KeyConditionExpression": "pk = :p"}),
    ],
)
def test_values_aws_accepts_pass(service: str, operation: str, params: dict[str, Any]) -> None:
    check_request(_operation(service, operation), params)
