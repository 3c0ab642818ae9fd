"""The client factory: one place for endpoint, region, retries, pool size, user agent and error mapping."""

from __future__ import annotations

import botocore.exceptions
import pytest

from picops import __version__
from picops.aws import ClientFactory, is_loopback_url, translate_error
from picops.config import AwsSettings
from picops.errors import (
    AccessDenied,
    AwsError,
    ConfigError,
    CredentialsMissing,
    EndpointUnreachable,
    ResourceMissing,
    UsageError,
)


def client_error(code: str, operation: str = "PutObjectTagging", message: str = "nope") -> Exception:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": message}}, operation)


def test_client_config_carries_retries_pool_and_user_agent() -> None:
    factory = ClientFactory(AwsSettings(region="eu-west-1", retry_mode="adaptive", max_attempts=4))
    s3 = factory.client("s3", concurrency=64)
    config = s3.meta.config
    assert config.retries == {"mode": "adaptive", "total_max_attempts": 4}
    assert config.max_pool_connections == 64
    assert f"picops/{__version__}" in config.user_agent_extra
    assert s3.meta.region_name == "eu-west-1"


def test_clients_are_cached_per_service_and_pool_size() -> None:
    factory = ClientFactory(AwsSettings(region="us-east-1"))
    assert factory.client("sqs") is factory.client("sqs")
    assert factory.client("sqs", concurrency=50) is not factory.client("sqs")
    assert factory.client("sqs", concurrency=4).meta.config.max_pool_connections == 10


def test_endpoint_override_applies_to_every_client() -> None:
    factory = ClientFactory(AwsSettings(region="us-east-1", endpoint_url="http://127.0.0.1:4566"))
    assert factory.is_local
    for service in ("s3", "sqs", "dynamodb", "sts"):
        assert factory.client(service).meta.endpoint_url == "http://127.0.0.1:4566"
    assert "local endpoint http://127.0.0.1:4566" in factory.describe_target()


def test_local_endpoint_gets_dummy_credentials_when_none_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    monkeypatch.delenv("AWS_SECURITY_TOKEN")
    local = ClientFactory(AwsSettings(region="us-east-1", endpoint_url="http://localhost:4566"))
    assert local.session.get_credentials() is not None
    remote = ClientFactory(AwsSettings(region="us-east-1", endpoint_url="https://example.invalid"))
    assert remote.session.get_credentials() is None  # never invent credentials for a real endpoint


def test_unknown_profile_is_a_credentials_error() -> None:
    with pytest.raises(CredentialsMissing, match="nosuch"):
        _ = ClientFactory(AwsSettings(profile="nosuch")).session


def test_missing_credentials_translate_to_exit_3_with_a_fix() -> None:
    error = translate_error(botocore.exceptions.NoCredentialsError())
    assert isinstance(error, CredentialsMissing)
    assert error.exit_code == 3
    assert error.hint is not None
    assert "--profile" in error.hint
    assert "--local" in error.hint


def test_unreachable_endpoint_names_the_url() -> None:
    exc = botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1/")
    error = translate_error(exc, "http://127.0.0.1:1")
    assert isinstance(error, EndpointUnreachable)
    assert "http://127.0.0.1:1/" in str(error)
    assert error.hint is not None
    assert "picops local up" in error.hint


def test_access_denied_names_the_action_and_resource() -> None:
    exc = client_error(
        "AccessDenied",
        message="User arn:aws:iam::1:user/x is not authorized to perform: s3:PutObjectTagging on "
        "resource: arn:aws:s3:::b/k",
    )
    error = translate_error(exc)
    assert isinstance(error, AccessDenied)
    assert "PutObjectTagging" in str(error)
    assert "arn:aws:s3:::b/k" in str(error)
    assert error.exit_code == 3


def test_missing_resource_is_exit_3_and_every_other_client_error_is_exit_3_too() -> None:
    assert isinstance(translate_error(client_error("NoSuchBucket", "ListObjectsV2")), ResourceMissing)
    generic = translate_error(client_error("InternalError", "PutItem", "we failed"))
    assert generic is not None
    assert generic.exit_code == 3
    assert "PutItem" in generic.message
    assert "InternalError" in generic.message
    assert translate_error(ValueError("x")) is None  # not an AWS failure: a bug keeps its traceback


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:4566", True),
        ("http://localhost:5000", True),
        ("http://[::1]:4566", True),
        ("https://s3.amazonaws.com", False),
        (None, False),
    ],
)
def test_is_loopback_url(url: str | None, expected: bool) -> None:
    assert is_loopback_url(url) is expected


def _stubbed_error(service: str, method: str, params: dict[str, object], code: str, status: int) -> Exception:
    from botocore.stub import Stubber

    client = ClientFactory(AwsSettings(region="us-east-1")).client(service)
    stub = Stubber(client)
    stub.add_client_error(method, service_error_code=code, http_status_code=status)
    with stub, pytest.raises(botocore.exceptions.ClientError) as caught:
        getattr(client, method)(**params)
    return caught.value


@pytest.mark.parametrize(
    ("service", "method", "params", "code", "status", "kind", "exit_code", "resource"),
    [
        ("s3", "head_bucket", {"Bucket": "b1"}, "403", 403, AccessDenied, 3, "s3://b1"),
        ("s3", "head_bucket", {"Bucket": "b1"}, "404", 404, ResourceMissing, 3, "s3://b1"),
        (
            "s3",
            "get_object",
            {"Bucket": "b1", "Key": "k/1"},
            "NoSuchKey",
            404,
            ResourceMissing,
            3,
            "s3://b1/k/1",
        ),
        (
            "sqs",
            "purge_queue",
            {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/1/q"},
            "AWS.SimpleQueueService.PurgeQueueInProgress",
            403,
            AwsError,
            3,
            "https://sqs.us-east-1.amazonaws.com/1/q",
        ),
        ("dynamodb", "get_item", {"TableName": "t", "Key": {}}, "ThrottlingException", 400, AwsError, 3, "t"),
        (
            "s3",
            "create_bucket",
            {"Bucket": "taken"},
            "BucketAlreadyExists",
            409,
            ConfigError,
            2,
            "s3://taken",
        ),
        ("lambda", "get_function", {"FunctionName": "f"}, "ServiceException", 500, AwsError, 3, "f"),
        (
            "sns",
            "publish",
            {"TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": "m"},
            "InvalidParameter",
            400,
            AwsError,
            3,
            "arn:aws:sns:us-east-1:1:t",
        ),
        (
            "sqs",
            "send_message",
            {"QueueUrl": "https://q/1/q", "MessageBody": "m"},
            "InvalidParameterValue",
            400,
            UsageError,
            2,
            "https://q/1/q",
        ),
    ],
)
def test_each_client_error_names_operation_resource_and_code(
    service: str,
    method: str,
    params: dict[str, object],
    code: str,
    status: int,
    kind: type[Exception],
    exit_code: int,
    resource: str,
) -> None:
    exc = _stubbed_error(service, method, params, code, status)
    error = translate_error(exc)
    assert isinstance(error, kind)
    assert error.exit_code == exit_code
    assert "\n" not in error.message
    assert exc.operation_name in error.message  # type: ignore[attr-defined]
    assert resource in error.message
    assert code in error.message


def test_known_fixes_are_offered() -> None:
    taken = translate_error(
        _stubbed_error("s3", "create_bucket", {"Bucket": "x"}, "BucketAlreadyExists", 409)
    )
    assert taken is not None
    assert taken.hint is not None
    assert "[ingest] uploads_bucket" in taken.hint
    purge = translate_error(
        _stubbed_error("sqs", "purge_queue", {"QueueUrl": "https://q/1/q"}, "PurgeQueueInProgress", 403)
    )
    assert purge is not None
    assert purge.hint is not None
    assert "60 seconds" in purge.hint


def test_sdk_and_connection_failures_are_exit_3() -> None:
    for exc in (
        botocore.exceptions.ConnectionClosedError(endpoint_url="https://x"),
        botocore.exceptions.ReadTimeoutError(endpoint_url="https://x"),
        botocore.exceptions.ParamValidationError(report="bad"),
        botocore.exceptions.WaiterError(name="w", reason="r", last_response={}),
        ConnectionResetError("reset"),
    ):
        error = translate_error(exc)
        assert error is not None, exc
        assert error.exit_code == 3
