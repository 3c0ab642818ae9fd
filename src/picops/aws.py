"""The one place boto3 sessions and clients are made.

Everything that talks to AWS takes a `ClientFactory` (or clients made by one), so tests hand in moto-backed
clients and `--endpoint-url` / `--local` swap every client to the embedded endpoint at once. Retries go
through botocore's retry config (standard or adaptive), never hand-rolled loops, and the connection pool is
sized to the concurrency the caller asks for.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlparse

import boto3
import botocore.exceptions
from botocore.config import Config

from picops import __version__
from picops.aws_errors import (
    ACCESS_DENIED,
    CREDENTIALS_REJECTED,
    MISSING_RESOURCE_CODES,
    OBJECT_MISSING,
    THROTTLING_CODES,
    USER_INPUT_CODES,
    code_of,
    http_status,
    message_of,
)
from picops.config import AwsSettings, Settings, settings_from_env
from picops.errors import (
    AccessDenied,
    AwsError,
    ConfigError,
    CredentialsMissing,
    EndpointUnreachable,
    PicopsError,
    ResourceMissing,
    UsageError,
)

USER_AGENT = f"picops/{__version__}"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# Credentials the embedded endpoint accepts; never used against a non-loopback endpoint.
LOCAL_CREDENTIALS = ("testing", "testing")
DEFAULT_REGION = "us-east-1"

# NoSuchKey: a missing object named by the user (an inventory manifest, an archive).
_MISSING_CODES = MISSING_RESOURCE_CODES | (OBJECT_MISSING - {"MethodNotAllowed"})
# The parameter that names the resource a request is about, most specific first (see `_remember_params`).
_RESOURCE_PARAMS = (
    "QueueUrl",
    "TableName",
    "TopicArn",
    "SubscriptionArn",
    "FunctionName",
    "RoleName",
    "logGroupName",
    "Rule",
    "ApiId",
    "UUID",
    "EventSourceArn",
    "AlarmNames",
    "TaskHandle",
    "SourceArn",
    "JobId",
    "Name",
    "QueueName",
    "ResourceArn",
    "StreamArn",
)
_RESOURCE_KEY = "PicopsResource"


def is_loopback_url(url: str | None) -> bool:
    return bool(url) and (urlparse(url).hostname or "") in LOOPBACK_HOSTS


# Called with each client a factory makes for a loopback endpoint: strict local mode's guard
# (picops/strict/guard.py) arrives this way, so this module (below strict) never imports it.
ClientInstaller = Callable[[Any, "ClientFactory"], None]
# Installers for the clients of handlers run in this process (the local runtime, `picops invoke`).
_HANDLER_INSTALLERS: list[ClientInstaller] = []


def use_handler_client_installers(installers: Sequence[ClientInstaller]) -> None:
    """From now on, `lambda_factory()` installs these on its local clients (the local runtime sets its
    guard before each invocation; a change drops the cached factory so no unguarded client survives)."""
    if tuple(_HANDLER_INSTALLERS) != tuple(installers):
        _HANDLER_INSTALLERS[:] = installers
        lambda_factory.cache_clear()


class ClientFactory:
    """Makes and caches boto3 clients for one target (account/region or endpoint)."""

    def __init__(
        self,
        aws: AwsSettings,
        *,
        session: boto3.Session | None = None,
        installers: Sequence[ClientInstaller] = (),
    ) -> None:
        self.settings = aws
        self.installers = tuple(installers)
        self._session = session
        self._clients: dict[tuple[str, int], Any] = {}
        self._lock = threading.Lock()
        self._account_id: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, installers: Sequence[ClientInstaller] = ()) -> ClientFactory:
        return cls(settings.aws, installers=installers)

    @property
    def endpoint_url(self) -> str | None:
        return self.settings.endpoint_url

    @property
    def is_local(self) -> bool:
        return is_loopback_url(self.endpoint_url)

    @property
    def session(self) -> boto3.Session:
        if self._session is None:
            self._session = self._make_session()
        return self._session

    def _make_session(self) -> boto3.Session:
        try:
            session = boto3.Session(profile_name=self.settings.profile, region_name=self.settings.region)
        except botocore.exceptions.ProfileNotFound:
            raise CredentialsMissing(
                f"AWS profile {self.settings.profile!r} is not configured",
                hint="check ~/.aws/config, or run `aws configure --profile NAME`",
            ) from None
        if self.is_local and session.get_credentials() is None:
            # The embedded endpoint signs nothing real; give it dummy keys rather than fail.
            session = boto3.Session(
                region_name=self.settings.region,
                aws_access_key_id=LOCAL_CREDENTIALS[0],
                aws_secret_access_key=LOCAL_CREDENTIALS[1],
            )
        return session

    @property
    def region(self) -> str:
        return self.session.region_name or DEFAULT_REGION

    def config(self, concurrency: int = 10) -> Config:
        return Config(
            region_name=self.region,
            retries={"mode": self.settings.retry_mode, "total_max_attempts": self.settings.max_attempts},
            max_pool_connections=max(10, concurrency),
            user_agent_extra=USER_AGENT,
            connect_timeout=5 if self.is_local else 10,
            read_timeout=60,
            tcp_keepalive=True,
        )

    def client(self, service: str, *, concurrency: int = 10) -> Any:
        """A client for `service` whose pool holds `concurrency` connections. Clients are thread-safe."""
        pool = max(10, concurrency)
        key = (service, pool)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self.session.client(
                    service,  # type: ignore[call-overload]
                    endpoint_url=self.endpoint_url,
                    config=self.config(pool),
                )
                register_error_context(client)
                if self.is_local:
                    for install in self.installers:
                        install(client, self)
                self._clients[key] = client
            return client

    def account_id(self) -> str:
        if self._account_id is None:
            self._account_id = str(self.client("sts").get_caller_identity()["Account"])
        return self._account_id

    def describe_target(self) -> str:
        """The first human line of every command that talks to AWS."""
        if self.endpoint_url:
            kind = "local endpoint" if self.is_local else "endpoint"
            return f"target: {kind} {self.endpoint_url} (region {self.region})"
        profile = f", profile {self.settings.profile}" if self.settings.profile else ""
        return f"target: AWS account {self.account_id()} / {self.region}{profile}"

    def target_info(self) -> dict[str, Any]:
        if self.endpoint_url:
            return {"endpoint_url": self.endpoint_url, "region": self.region, "local": self.is_local}
        return {"account": self.account_id(), "region": self.region, "profile": self.settings.profile}


@functools.cache
def lambda_factory() -> ClientFactory:
    """One factory per Lambda container, built on first use (never at import: keeps cold starts lean)."""
    return ClientFactory.from_settings(settings_from_env(), tuple(_HANDLER_INSTALLERS))


def register_error_context(client: Any) -> None:
    """Let every error from `client` name the resource it was about (`translate_error` reads it): the
    request's parameters are kept in the call's context and copied into the parsed error response."""
    events = client.meta.events
    events.register("before-parameter-build.*.*", _remember_params, unique_id="picops-error-params")
    events.register("after-call.*.*", _attach_resource, unique_id="picops-error-resource")


def _remember_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    resource = resource_of(params)
    if resource:
        context[_RESOURCE_KEY] = resource


def _attach_resource(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    if isinstance(parsed, dict) and "Error" in parsed and context.get(_RESOURCE_KEY):
        parsed[_RESOURCE_KEY] = context[_RESOURCE_KEY]


def resource_of(params: dict[str, Any]) -> str | None:
    """The resource a request names, as a user would recognise it (`s3://bucket/key`, a queue URL, ...)."""
    bucket = params.get("Bucket")
    if isinstance(bucket, str) and bucket:
        key = params.get("Key")
        return f"s3://{bucket}/{key}" if isinstance(key, str) and key else f"s3://{bucket}"
    for name in _RESOURCE_PARAMS:
        value = params.get(name)
        if isinstance(value, list | tuple) and value:
            return ", ".join(str(v) for v in value)
        if isinstance(value, str) and value:
            return value
    return None


def _bucket_taken_hint(resource: str | None, code: str) -> str:
    name = (resource or "").removeprefix("s3://") or "the bucket"
    if code == "BucketAlreadyOwnedByYou":
        return (
            f"{name} already exists in this account, perhaps in another region or made by another tool; "
            "adopt it by naming it in [ingest] uploads_bucket / processed_bucket, or pick another --stack"
        )
    return (
        f"S3 bucket names are global and {name} belongs to another account: set [ingest] uploads_bucket "
        "(or processed_bucket) to a name of your own, or pick another --stack"
    )


def describe_client_error(exc: botocore.exceptions.ClientError) -> tuple[str, str, str, str]:
    """(operation, resource, code, message) of an AWS error; resource is "" when the request named none."""
    code = code_of(exc) or str(http_status(exc) or "Unknown")
    message = message_of(exc)
    resource = str(exc.response.get(_RESOURCE_KEY) or "")
    return exc.operation_name, resource, code, message


def translate_error(exc: BaseException, endpoint_url: str | None = None) -> PicopsError | None:
    """Map a botocore failure to the picops error a user can act on (exit 3; exit 2 where the request was
    refused because of the user's own input). Every `ClientError`, `BotoCoreError` and connection failure
    maps to one; None only for exceptions that are not AWS failures at all (bugs keep their traceback)."""
    if isinstance(exc, PicopsError):
        return exc
    if isinstance(exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
        return CredentialsMissing(
            "no AWS credentials found",
            hint="set AWS_PROFILE or pass --profile, run `aws sso login`, export AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY, or target the local endpoint with --local",
        )
    if isinstance(exc, botocore.exceptions.TokenRetrievalError | botocore.exceptions.SSOTokenLoadError):
        return CredentialsMissing(f"AWS SSO token unusable: {exc}", hint="run `aws sso login`")
    if isinstance(exc, botocore.exceptions.ProfileNotFound):
        return CredentialsMissing(str(exc), hint="check ~/.aws/config")
    if isinstance(
        exc,
        botocore.exceptions.EndpointConnectionError
        | botocore.exceptions.ConnectTimeoutError
        | botocore.exceptions.ReadTimeoutError
        | botocore.exceptions.ConnectionClosedError
        | botocore.exceptions.HTTPClientError,
    ):
        url = getattr(exc, "kwargs", {}).get("endpoint_url") or endpoint_url or "the AWS endpoint"
        hint = "start it with `picops local up --detach`" if is_loopback_url(endpoint_url) else None
        return EndpointUnreachable(f"cannot reach {url}: {exc}", hint=hint)
    if isinstance(exc, botocore.exceptions.ClientError):
        return _client_error(exc)
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return AwsError(f"AWS SDK error ({type(exc).__name__}): {exc}")
    if isinstance(exc, ConnectionError | TimeoutError):
        url = endpoint_url or "the AWS endpoint"
        return EndpointUnreachable(f"cannot reach {url}: {exc}")
    return None


def _client_error(exc: botocore.exceptions.ClientError) -> PicopsError:
    operation, resource, code, message = describe_client_error(exc)
    on = f" on {resource}" if resource else ""
    detail = f": {message}" if message and message != code else ""
    line = f"calling {operation}{on}: {code}{detail}"
    if code in ACCESS_DENIED:
        hint = "the caller's IAM policy must allow this action on this resource"
        if code == "403" and operation == "HeadBucket":
            hint = (
                "HeadBucket needs s3:ListBucket on the bucket (or the bucket belongs to another account); "
                "`picops provision --print-policy` prints what picops needs"
            )
        return AccessDenied(f"access denied {line}", hint=hint)
    if code in CREDENTIALS_REJECTED:
        return CredentialsMissing(
            f"credentials rejected {line}",
            hint="refresh them (`aws sso login`, new keys) or check --profile and the system clock",
        )
    if code in _MISSING_CODES:
        return ResourceMissing(
            f"resource missing {line}", hint="run `picops provision --plan` to see what is missing"
        )
    if code in ("BucketAlreadyExists", "BucketAlreadyOwnedByYou"):
        return ConfigError(f"bucket name taken {line}", hint=_bucket_taken_hint(resource, code))
    if code in ("PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress"):
        return AwsError(
            f"purge already in progress {line}",
            hint="SQS allows one PurgeQueue per queue every 60 seconds; wait a minute and run it again",
        )
    if code in THROTTLING_CODES:
        return AwsError(
            f"throttled (still, after the retries) {line}",
            hint="retry later, lower the concurrency, or raise [aws] max_attempts / use retry_mode "
            '= "adaptive"',
        )
    if code in USER_INPUT_CODES:
        return UsageError(f"AWS refused the request {line}")
    return AwsError(f"AWS error {line}")
