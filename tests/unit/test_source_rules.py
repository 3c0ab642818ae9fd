"""Rules on the source itself: what an AWS error means is read in aws_errors.py only, and a region's
partition is worked out in stack/names.py only (docs/architecture.md, "Where things go")."""

from __future__ import annotations

import ast
from pathlib import Path

import botocore.exceptions
import pytest

from picops import aws_errors
from picops.stack.names import partition_of

SRC = Path(__file__).parents[2] / "src" / "picops"


def _modules(skip: str) -> list[tuple[str, ast.AST]]:
    return [
        (str(path.relative_to(SRC)), ast.parse(path.read_text()))
        for path in sorted(SRC.rglob("*.py"))
        if str(path.relative_to(SRC)) != skip
    ]


def _reads_error_member(node: ast.AST) -> bool:
    """`x["Error"]` or `x.get("Error", ...)`: digging the error out of a botocore response by hand."""
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return node.slice.value == "Error"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        first = node.args[0] if node.args else None
        return isinstance(first, ast.Constant) and first.value == "Error"
    return False


def test_only_aws_errors_reads_the_error_member_of_a_response() -> None:
    offenders = [
        f"{name}:{getattr(node, 'lineno', 0)}"
        for name, tree in _modules("aws_errors.py")
        for node in ast.walk(tree)
        if _reads_error_member(node)
    ]
    assert offenders == []


def test_only_stack_names_tells_partitions_by_region_prefix() -> None:
    offenders = [
        f"{name}:{node.lineno} {node.value!r}"
        for name, tree in _modules("stack/names.py")
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in ("us-gov-", "cn-")
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("region", "partition"),
    [("us-east-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"), ("eu-west-1", "aws")],
)
def test_partition_of_every_partition(region: str, partition: str) -> None:
    assert partition_of(region) == partition


def _client_error(code: str, status: int = 400, message: str = "m") -> botocore.exceptions.ClientError:
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return botocore.exceptions.ClientError(response, "Op")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "exc",
    [
        _client_error("SlowDown", 503),
        _client_error("ThrottlingException"),
        _client_error("ProvisionedThroughputExceededException"),
        _client_error("TransactionConflictException"),
        _client_error("", 502),  # a bare 5xx, no code
        _client_error("SomethingNew", 500),
        botocore.exceptions.ReadTimeoutError(endpoint_url="http://x"),
        botocore.exceptions.ConnectTimeoutError(endpoint_url="http://x"),
        botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"),
        TimeoutError(),
    ],
)
def test_transient_failures(exc: BaseException) -> None:
    assert aws_errors.is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        _client_error("AccessDenied", 403),
        _client_error("ValidationException"),
        _client_error("NoSuchKey", 404),
    ],
)
def test_permanent_failures_are_not_transient(exc: BaseException) -> None:
    assert not aws_errors.is_transient(exc)


def test_code_message_and_kinds() -> None:
    exc = _client_error("ConditionalCheckFailedException", message=" lost ")
    assert aws_errors.code_of(exc) == "ConditionalCheckFailedException"
    assert aws_errors.message_of(exc) == "lost"
    assert aws_errors.code_of(ValueError()) == ""
    assert aws_errors.is_conditional_failure(exc)
    cancelled = _client_error("TransactionCanceledException")
    assert not aws_errors.is_conditional_failure(cancelled)
    assert aws_errors.is_conditional_failure(cancelled, transaction=True)
    assert aws_errors.is_access_denied(_client_error("AuthorizationError", 403))
    assert aws_errors.is_user_input(_client_error("InvalidParameterValue"))
    assert not aws_errors.is_user_input(_client_error("InternalError", 500))
    assert aws_errors.is_credentials_rejected(_client_error("ExpiredToken"))
