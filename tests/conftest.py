"""Test harness: dummy credentials, a loopback-only network guard, mock_aws, a threaded moto server, the CLI.

Nothing but loopback may be contacted: the guard below fails any test that resolves or connects to another
address, so a missing mock can never reach real AWS (or the instance-metadata address).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

EVENTS_DIR = Path(__file__).parent / "events"

_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect


class RealNetworkAccess(AssertionError):
    pass


def _is_loopback(host: Any) -> bool:
    if host is None:
        return True
    host = host.decode() if isinstance(host, bytes) else str(host)
    if host in {"localhost", ""}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not _is_loopback(host):
        raise RealNetworkAccess(f"test tried to resolve {host!r}: only loopback is allowed")
    return _real_getaddrinfo(host, *args, **kwargs)


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
        raise RealNetworkAccess(f"test tried to connect to {address!r}: only loopback is allowed")
    return _real_connect(self, address)


def pytest_configure(config: pytest.Config) -> None:
    socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    # Set before any boto3 import in tests: never probe the instance-metadata address.
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


def load_event(name: str) -> dict[str, Any]:
    """A real-shaped AWS event from tests/events/."""
    return json.loads((EVENTS_DIR / name).read_text())  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Dummy credentials, no user AWS config, no PICOPS_* leakage, and a private working directory."""
    for name in list(os.environ):
        if name.startswith(("PICOPS_", "AWS_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("PICOPS_STATE_DIR", str(tmp_path / ".picops"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def aws() -> Iterator[Any]:
    """In-process moto; yields a ClientFactory whose clients hit it."""
    from moto import mock_aws

    from picops.aws import ClientFactory
    from picops.config import AwsSettings
    from picops.local import query_definitions

    query_definitions.install()  # as the embedded endpoint serves them
    with mock_aws():
        yield ClientFactory(AwsSettings(region="us-east-1"))


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """One threaded moto server on 127.0.0.1 for the whole session; reset between tests by `endpoint`."""
    from moto.server import ThreadedMotoServer

    from picops.local import query_definitions
    from picops.local.endpoint import free_port
    from picops.local.s3_events import install

    install()  # S3 notifications as `picops local up` serves them (versionId, sequencer)
    query_definitions.install()  # saved Logs Insights queries, which moto lacks
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def endpoint(moto_server: str) -> str:
    """A clean moto server URL."""
    from picops.local.endpoint import reset

    reset(moto_server)
    return moto_server


@pytest.fixture
def server_factory(endpoint: str) -> Any:
    """A ClientFactory pointed at the clean moto server (for arranging state behind the CLI's back)."""
    from picops.aws import ClientFactory
    from picops.config import AwsSettings

    return ClientFactory(AwsSettings(region="us-east-1", endpoint_url=endpoint))


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def cli() -> Any:
    """Run the real CLI in-process: cli("status", "--json", endpoint=url)."""
    from picops.cli.app import app

    runner = CliRunner()

    def run(*args: str, endpoint: str | None = None, input: str | None = None) -> CliResult:
        argv = (["--endpoint-url", endpoint] if endpoint else []) + list(args)
        result = runner.invoke(app, argv, input=input, catch_exceptions=True)
        exc = result.exception if not isinstance(result.exception, SystemExit) else None
        return CliResult(result.exit_code, result.stdout, result.stderr, exc)

    return run


@pytest.fixture
def iam_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Strict local mode's IAM check off, for runtime tests that wire ad-hoc mappings to test handlers: those
    functions exist on no endpoint and have no role, so there is nothing to authorise them against."""
    monkeypatch.setenv("PICOPS_LOCAL__ENFORCE_IAM", "false")
