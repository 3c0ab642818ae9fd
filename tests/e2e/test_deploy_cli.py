"""`picops deploy` end to end: the real CLI against a threaded moto server, functions created by the test."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from picops.aws import ClientFactory
from picops.stack.build import build_model
from picops.stack.model import FunctionSpec
from tests.deploy_support import RUNTIME, CallCounter, bundle_settings, create_roles

pytestmark = pytest.mark.e2e

FUNCTION_FIELDS = {"logical", "name", "action", "version", "code_sha256", "size_bytes"}


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-bundle-cache")


@pytest.fixture(autouse=True)
def deploy_env(monkeypatch: pytest.MonkeyPatch, shared_cache: Path) -> None:
    # The runtime of this interpreter: the bundle copied from this environment is then faithful (no warning).
    monkeypatch.setenv("PICOPS_DEPLOY__RUNTIME", RUNTIME)
    monkeypatch.setenv("PICOPS_DEPLOY__CACHE_DIR", str(shared_cache))


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch) -> CallCounter:
    """Counts every Lambda/S3 API call the CLI makes (its clients all come from ClientFactory.client)."""
    counter = CallCounter()
    real = ClientFactory.client

    def counted(self: ClientFactory, service: str, **kwargs: Any) -> Any:
        client = real(self, service, **kwargs)
        return counter.attach(client) if service in {"lambda", "s3"} else client

    monkeypatch.setattr(ClientFactory, "client", counted)
    return counter


def _placeholder_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", "def handler(event, context):\n    return None\n")
    return buf.getvalue()


def _specs(server_factory: ClientFactory, endpoint: str) -> list[FunctionSpec]:
    settings = bundle_settings(Path("unused"), endpoint=endpoint)
    model = build_model(settings, server_factory.account_id(), server_factory.region, local=True)
    return model.functions()


@pytest.fixture
def functions(server_factory: ClientFactory, endpoint: str) -> list[FunctionSpec]:
    """The functions as `picops provision` would leave them before a first deploy: placeholder code."""
    specs = _specs(server_factory, endpoint)
    create_roles(server_factory, specs)
    lam = server_factory.client("lambda")
    for spec in specs:
        lam.create_function(
            FunctionName=spec.name,
            Runtime=spec.runtime,
            Role=spec.role_arn,
            Handler=spec.handler,
            Code={"ZipFile": _placeholder_zip()},
            Timeout=spec.timeout_s,
            MemorySize=spec.memory_mb,
            Environment={"Variables": spec.env},
        )
    return specs


def _live_version(server_factory: ClientFactory, name: str) -> str:
    return str(server_factory.client("lambda").get_alias(FunctionName=name, Name="live")["FunctionVersion"])


def test_deploy_twice_second_is_unchanged_with_no_code_upload(
    cli: Any,
    endpoint: str,
    server_factory: ClientFactory,
    functions: list[FunctionSpec],
    counter: CallCounter,
) -> None:
    first = cli("deploy", "--json", endpoint=endpoint)
    assert first.exit_code == 0, first.stderr
    doc = first.json()
    assert [f["logical"] for f in doc["functions"]] == [s.logical for s in functions]
    for item in doc["functions"]:
        assert set(item) >= FUNCTION_FIELDS
        assert item["action"] == "updated"
        assert item["version"] == "1"
    sha = doc["functions"][0]["code_sha256"]
    assert {f["code_sha256"] for f in doc["functions"]} == {sha}
    assert doc["bundle"]["code_sha256"] == sha
    assert doc["functions"][0]["size_bytes"] == doc["bundle"]["size_bytes"]
    assert counter["UpdateFunctionCode"] == len(functions)
    assert "target: local endpoint" in first.stderr
    for spec in functions:
        assert _live_version(server_factory, spec.name) == "1"

    counter.calls.clear()
    second = cli("deploy", "--json", endpoint=endpoint)
    assert second.exit_code == 0, second.stderr
    items = second.json()["functions"]
    assert [f["action"] for f in items] == ["unchanged"] * len(functions)
    assert [f["version"] for f in items] == ["1"] * len(functions)
    assert {f["code_sha256"] for f in items} == {sha}
    assert counter["UpdateFunctionCode"] == 0
    assert counter["UpdateFunctionConfiguration"] == 0
    assert counter["PublishVersion"] == 0
    assert counter["UpdateAlias"] == 0


def test_code_change_then_rollback_by_logical_and_physical_name(
    cli: Any,
    endpoint: str,
    server_factory: ClientFactory,
    functions: list[FunctionSpec],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ingest = next(s for s in functions if s.logical == "IngestFunction")
    r = cli("deploy", "IngestFunction", "--json", endpoint=endpoint)
    assert r.exit_code == 0, r.stderr
    assert [(f["logical"], f["action"], f["version"]) for f in r.json()["functions"]] == [
        ("IngestFunction", "updated", "1")
    ]
    # New code: a different dependency set changes the bundle.
    monkeypatch.setenv("PICOPS_DEPLOY__DEPENDENCIES", '["pydantic"]')
    r = cli("deploy", ingest.name, "--json", endpoint=endpoint)
    assert r.exit_code == 0, r.stderr
    (item,) = r.json()["functions"]
    assert (item["action"], item["version"]) == ("updated", "2")
    assert _live_version(server_factory, ingest.name) == "2"
    other = next(s for s in functions if s.logical != "IngestFunction")
    assert server_factory.client("lambda").list_aliases(FunctionName=other.name)["Aliases"] == []

    r = cli("deploy", "--rollback", "IngestFunction", "--json", endpoint=endpoint)
    assert r.exit_code == 0, r.stderr
    (item,) = r.json()["functions"]
    assert (item["action"], item["version"], item["previous_version"]) == ("rolled_back", "1", "2")
    assert _live_version(server_factory, ingest.name) == "1"

    r = cli("deploy", "--rollback", ingest.name, endpoint=endpoint)
    assert r.exit_code == 1
    assert "no earlier published version" in r.stderr


def test_dry_run_builds_and_reports_but_changes_nothing(
    cli: Any,
    endpoint: str,
    server_factory: ClientFactory,
    functions: list[FunctionSpec],
    counter: CallCounter,
) -> None:
    r = cli("deploy", "--dry-run", "--json", endpoint=endpoint)
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert doc["dry_run"] is True
    assert {f["action"] for f in doc["functions"]} == {"updated"}
    assert {f["version"] for f in doc["functions"]} == {None}
    mutating = {"UpdateFunctionCode", "UpdateFunctionConfiguration", "PublishVersion", "CreateAlias"}
    assert not mutating & set(counter.calls)
    lam = server_factory.client("lambda")
    assert lam.list_aliases(FunctionName=functions[0].name)["Aliases"] == []


def test_human_output_names_target_and_size_budget(
    cli: Any, endpoint: str, functions: list[FunctionSpec]
) -> None:
    r = cli("deploy", endpoint=endpoint)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("target: local endpoint")
    assert "Size budget" in r.stdout
    assert "50.0 MB" in r.stdout
    assert "250.0 MB" in r.stdout
    assert "upload: direct" in r.stdout
    for spec in functions:
        assert spec.logical in r.stdout
    assert f"{len(functions)} updated" in r.stdout


def test_missing_functions_exit_3_suggesting_provision(cli: Any, endpoint: str) -> None:
    r = cli("deploy", "--json", endpoint=endpoint)
    assert r.exit_code == 3
    assert r.stdout == ""
    assert f"picops --endpoint-url {endpoint} provision" in r.stderr
    assert "IngestFunction" in r.stderr


def test_usage_errors_exit_2(cli: Any, endpoint: str, functions: list[FunctionSpec]) -> None:
    r = cli("deploy", "NoSuchFunction", endpoint=endpoint)
    assert r.exit_code == 2
    assert "unknown function" in r.stderr
    r = cli("deploy", "--rollback", "IngestFunction", "PaymentFunction", endpoint=endpoint)
    assert r.exit_code == 2


def test_size_limits_exit_2(
    cli: Any,
    endpoint: str,
    functions: list[FunctionSpec],
    counter: CallCounter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PICOPS_DEPLOY__DIRECT_UPLOAD_LIMIT_MB", "1")
    r = cli("deploy", "--json", endpoint=endpoint)
    assert r.exit_code == 2
    assert "artifacts_bucket" in r.stderr
    assert counter["UpdateFunctionCode"] == 0
    monkeypatch.delenv("PICOPS_DEPLOY__DIRECT_UPLOAD_LIMIT_MB")
    monkeypatch.setenv("PICOPS_DEPLOY__UNZIPPED_LIMIT_MB", "1")
    r = cli("deploy", endpoint=endpoint)
    assert r.exit_code == 2
    assert "unzipped" in r.stderr
