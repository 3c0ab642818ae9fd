"""The local runtime's alias routing: AdditionalVersionWeights send a share of invocations to the version
they name, which runs with its published configuration (and its kept bundle, in a process of its own)."""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path
from typing import Any

import pytest

from picops.aws import ClientFactory
from picops.local.invoke import FunctionTarget
from picops.local.routing import AliasRouting
from picops.local.versions import (
    BundleHandler,
    VersionFailed,
    bundles_root,
    code_dir,
    keep_bundle,
    runtime_dir,
)
from tests.deploy_support import TRUST

NAME = "picops-routing-probe"


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, body in files.items():
            zf.writestr(name, body)
    return buf.getvalue()


@pytest.fixture
def lam(aws: ClientFactory) -> Any:
    role = aws.client("iam").create_role(RoleName="probe", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    client = aws.client("lambda")
    client.create_function(
        FunctionName=NAME,
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": _zip({"index.py": "def handler(e, c): return 1"})},
        Environment={"Variables": {"WHICH": "one"}},
    )
    client.publish_version(FunctionName=NAME)
    client.update_function_configuration(
        FunctionName=NAME, Environment={"Variables": {"WHICH": "two"}}, Timeout=9
    )
    client.publish_version(FunctionName=NAME)
    client.create_alias(FunctionName=NAME, Name="live", FunctionVersion="1")
    return client


def _target() -> FunctionTarget:
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{NAME}:live"
    return FunctionTarget("Probe", NAME, "index.handler", env={"WHICH": "model"}, arn=arn)


def test_weights_send_their_share_to_the_version_with_its_configuration(lam: Any, tmp_path: Path) -> None:
    lam.update_alias(
        FunctionName=NAME,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}},
    )
    routing = AliasRouting(lam, rng=random.Random(7), bundles=tmp_path)
    picks = [routing.pick(_target()) for _ in range(1000)]
    routed = [p for p in picks if p.version == "2"]
    assert 240 < len(routed) < 360
    assert {(p.env["WHICH"], p.timeout_s, p.code_dir) for p in routed} == {("two", 9, "")}
    assert {p.env["WHICH"] for p in picks if p.version != "2"} == {"model"}


def test_no_weights_no_routing_and_a_rollback_is_seen_after_the_refresh(lam: Any, tmp_path: Path) -> None:
    now = [0.0]
    routing = AliasRouting(lam, rng=random.Random(1), clock=lambda: now[0], bundles=tmp_path)
    assert {routing.pick(_target()).version for _ in range(50)} == {"$LATEST"}
    lam.update_alias(
        FunctionName=NAME,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 1.0}},
    )
    now[0] += 1.0
    assert routing.pick(_target()).version == "2"


def test_a_kept_bundle_runs_in_its_own_interpreter_without_site_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zipped = tmp_path / "v.zip"
    zipped.write_bytes(
        _zip(
            {
                "good.py": "import os, boto3\ndef handler(e, c):\n    print('hello', c.function_version)\n"
                "    return {'n': e['n'] + 1, 'which': os.environ.get('WHICH')}\n",
                "bad.py": "import PIL\ndef handler(e, c):\n    return 0\n",
            }
        )
    )
    sha = "q83vEjRWeJA="  # the CodeSha256 (base64) a deploy would have reported for it
    monkeypatch.setenv("PICOPS_STATE_DIR", str(tmp_path / "state"))
    root = bundles_root()
    assert keep_bundle(zipped, sha) == root / "abcdef1234567890.zip"
    code = code_dir(sha, root)
    assert code is not None
    context = type(
        "C",
        (),
        {
            "function_name": NAME,
            "function_version": "2",
            "invoked_function_arn": "arn",
            "memory_limit_in_mb": 128,
            "aws_request_id": "r",
            "log_group_name": "g",
            "log_stream_name": "s",
            "get_remaining_time_in_millis": lambda self: 5000,
        },
    )()
    good = BundleHandler("good.handler", code, runtime_dir(root), 5)
    assert good({"n": 1}, context)["n"] == 2
    with pytest.raises(VersionFailed, match=r"Runtime\.ImportModuleError"):
        BundleHandler("bad.handler", code, runtime_dir(root), 5)({}, context)
