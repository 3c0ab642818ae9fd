"""One set of "missing resource" codes, used by everything that asks; one place that knows the state dir."""

from __future__ import annotations

import ast
from pathlib import Path

import botocore.exceptions
import pytest

from picops import aws_errors
from picops.aws import translate_error
from picops.aws_errors import BUCKET_MISSING, OBJECT_MISSING, QUEUE_MISSING, is_missing
from picops.config import state_dir
from picops.errors import ResourceMissing

SRC = Path(__file__).parents[2] / "src" / "picops"


def _error(code: str, status: int = 400) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
    )


def test_is_missing_by_code_and_by_bare_404() -> None:
    assert is_missing(_error("AWS.SimpleQueueService.NonExistentQueue"), QUEUE_MISSING)
    assert not is_missing(_error("NoSuchBucket"), QUEUE_MISSING)
    assert is_missing(_error("NoSuchBucket"))  # the default: any missing resource
    assert is_missing(_error("", status=404), BUCKET_MISSING)  # HeadBucket: no code, a 404
    assert not is_missing(_error("", status=404), QUEUE_MISSING)
    assert is_missing(_error("NoSuchBucketPolicy"), BUCKET_MISSING, also={"NoSuchBucketPolicy"})
    assert is_missing(_error("MethodNotAllowed", 405), OBJECT_MISSING)
    assert not is_missing(_error("InternalError", 500))


@pytest.mark.parametrize("code", sorted(aws_errors.MISSING_RESOURCE_CODES))
def test_every_missing_resource_code_is_exit_3(code: str) -> None:
    error = translate_error(_error(code, 404))
    assert isinstance(error, ResourceMissing)
    assert error.exit_code == 3


# Codes that must only be spelled in aws_errors.py (a new near-copy elsewhere fails here).
_SPELLED_ONCE = {
    "NoSuchBucket",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "NoSuchEntity",
    "ResourceNotFoundException",
    "ResourceNotFound",
    "ParameterNotFound",
    "NoSuchKey",
    "NoSuchVersion",
}


def test_missing_codes_are_spelled_only_in_aws_errors() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "aws_errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in _SPELLED_ONCE:
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno} {node.value}")
    assert offenders == []


def test_state_dir_is_picops_state_dir_or_dot_picops(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PICOPS_STATE_DIR", raising=False)
    assert state_dir() == Path(".picops")
    monkeypatch.setenv("PICOPS_STATE_DIR", str(tmp_path / "s"))
    assert state_dir() == tmp_path / "s"


def test_every_state_file_follows_the_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from picops.config import Settings
    from picops.core.tagging.checkpoint import default_state_path
    from picops.local import endpoint
    from picops.provision.bundle import cache_dir

    monkeypatch.setenv("PICOPS_STATE_DIR", str(tmp_path / "s"))
    assert endpoint.state_path().parent == tmp_path / "s"
    assert endpoint.log_path().parent == tmp_path / "s"
    assert default_state_path({"bucket": "b"}).parent == tmp_path / "s"
    assert cache_dir(Settings()) == tmp_path / "s" / "bundle-cache"


def test_only_config_reads_the_state_dir_variable() -> None:
    readers = [
        str(path.relative_to(SRC))
        for path in sorted(SRC.rglob("*.py"))
        if '"PICOPS_STATE_DIR"' in path.read_text() and path.name != "config.py"
    ]
    assert readers == []
