"""The one place boto3 sessions and clients are made.

Everything that talks to AWS takes a `ClientFactory` (or clients made by one), so tests hand in moto-backed
clients and `--endpoint-url` / `--local` swap every client to the embedded endpoint at once. Retries go
through botocore's retry config (standard or adaptive), never hand-rolled loops, and the connection pool is
sized to the concurrency the caller asks for.
"""

from __future__ import annotations

import functools
import threading
from typing import Any
from urllib.parse import urlparse

import boto3
import botocore.exceptions
from botocore.config import Config

from picops import __version__
from picops.aws_errors import MISSING_RESOURCE_CODES
from picops.config import AwsSettings, Settings, settings_from_env
from picops.errors import (
    AccessDenied,
    AwsError,
    CredentialsMissing,
    EndpointUnreachable,
    PicopsError,
    ResourceMissing,
)

USER_AGENT = f"picops/{__version__}"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# Credentials the embedded endpoint accepts; never used against a non-loopback endpoint.
LOCAL_CREDENTIALS = ("testing", "testing")
DEFAULT_REGION = "us-east-1"

_ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "Forbidden"}
)
_CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
    }
)
_MISSING_CODES = MISSING_RESOURCE_CODES


def is_loopback_url(url: str | None) -> bool:
    return bool(url) and (urlparse(url).hostname or "") in LOOPBACK_HOSTS


class ClientFactory:
    """Makes and caches boto3 clients for one target (account/region or endpoint)."""

    def __init__(self, aws: AwsSettings, *, session: boto3.Session | None = None) -> None:
        self.settings = aws
        self._session = session
        self._clients: dict[tuple[str, int], Any] = {}
        self._lock = threading.Lock()
        self._account_id: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientFactory:
        return cls(settings.aws)

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
    return ClientFactory.from_settings(settings_from_env())


def translate_error(exc: BaseException, endpoint_url: str | None = None) -> PicopsError | None:
    """Map a botocore failure to the picops error (exit 3) a user can act on; None if it is not one."""
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
        | botocore.exceptions.ConnectionClosedError,
    ):
        url = getattr(exc, "kwargs", {}).get("endpoint_url") or endpoint_url or "the AWS endpoint"
        hint = "start it with `picops local up --detach`" if is_loopback_url(endpoint_url) else None
        return EndpointUnreachable(f"cannot reach {url}: {exc}", hint=hint)
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")) or code
        operation = exc.operation_name
        if code in _ACCESS_DENIED_CODES:
            return AccessDenied(
                f"access denied calling {operation}: {message}",
                hint="the caller's IAM policy must allow this action on this resource",
            )
        if code in _CREDENTIAL_CODES:
            return CredentialsMissing(f"credentials rejected calling {operation}: {message}")
        if code in _MISSING_CODES:
            return ResourceMissing(f"{operation}: {message}")
        return None
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return AwsError(f"AWS SDK error: {exc}")
    return None
