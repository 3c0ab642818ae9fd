"""A published version's own code on the local runtime: the bundle `picops deploy` shipped, kept by its
CodeSha256, run in a Python process of its own the way Lambda runs it.

Lambda runs a version from its zip, with only the runtime's own packages beside it (boto3 and its
dependencies); the local runtime runs the stack's handlers from the checkout it was started from. While a
release sends a share of the traffic to a new version (local/routing.py), that share runs from the version's
bundle instead: extracted once under `<state dir>/bundles/<sha256>/`, in a child interpreter started
without site-packages (`-S`) whose path holds the bundle and Lambda's runtime packages only. So a bundle
that lacks a dependency fails there as it would on Lambda. The child gets the invocation's environment
(the version's variables, the endpoint); strict local mode's IAM guard does not reach into it.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from picops.config import state_dir

# What the Lambda Python runtime provides besides the standard library.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")

_RUNNER = r"""
import importlib, json, sys, time, traceback
entry, result_path, meta = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

class Context:
    def __init__(self):
        self.__dict__.update(meta["fields"])
        self._deadline = time.monotonic() + meta["remaining_ms"] / 1000

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))

event = json.load(sys.stdin)
module, _, attr = entry.rpartition(".")
try:
    outcome = {"response": getattr(importlib.import_module(module), attr)(event, Context())}
except Exception as exc:
    traceback.print_exc()
    kind = "Runtime.ImportModuleError" if isinstance(exc, ImportError) else type(exc).__name__
    outcome = {"errorType": kind, "errorMessage": str(exc)}
with open(result_path, "w") as handle:
    json.dump(outcome, handle, default=str)
"""


class VersionFailed(Exception):
    """The version's handler raised (or could not be imported) in its own process."""


def bundles_root() -> Path:
    """Where kept bundles live. Read once by whoever runs handlers: during an invocation the process's
    environment is the function's, without PICOPS_STATE_DIR."""
    return state_dir() / "bundles"


def _hex(code_sha256: str) -> str:
    return base64.b64decode(code_sha256).hex()


def keep_bundle(path: Path, code_sha256: str) -> Path:
    """Keep the zip a deploy shipped, named by its CodeSha256 (an existing copy is that very zip)."""
    kept = bundles_root() / f"{_hex(code_sha256)}.zip"
    if not kept.exists():
        kept.parent.mkdir(parents=True, exist_ok=True)
        partial = kept.with_suffix(".partial")
        partial.write_bytes(path.read_bytes())
        partial.replace(kept)
    return kept


def code_dir(code_sha256: str, root: Path) -> Path | None:
    """The kept bundle of `code_sha256`, extracted; None when no deploy from here kept it."""
    if not code_sha256:
        return None
    digest = _hex(code_sha256)
    zipped = root / f"{digest}.zip"
    target = root / digest
    if target.is_dir():
        return target
    if not zipped.exists():
        return None
    partial = root / f"{digest}.partial-dir"
    with zipfile.ZipFile(zipped) as archive:
        archive.extractall(partial)
    partial.replace(target)
    return target


def runtime_dir(root: Path) -> Path:
    """A directory holding (links to) the Lambda runtime's own packages, from this interpreter's."""
    target = root / "lambda-runtime"
    target.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        try:
            module = __import__(name)
        except ImportError:
            continue  # not installed here: the bundle brings it or does without
        source = Path(module.__file__ or "")
        if source.name == "__init__.py":
            source = source.parent  # a package: its directory
        link = target / source.name
        if not link.exists():
            link.symlink_to(source, target_is_directory=source.is_dir())
    return target


class BundleHandler:
    """Calls `entry` of the bundle in `code` in a child interpreter; its output lines are the invocation's."""

    def __init__(self, entry: str, code: Path, runtime: Path, timeout_s: int) -> None:
        self.entry, self.code, self.runtime, self.timeout_s = entry, code, runtime, timeout_s

    def __call__(self, event: Any, context: Any) -> Any:
        meta = {
            "fields": {
                k: getattr(context, k)
                for k in (
                    "function_name",
                    "function_version",
                    "invoked_function_arn",
                    "memory_limit_in_mb",
                    "aws_request_id",
                    "log_group_name",
                    "log_stream_name",
                )
            },
            "remaining_ms": context.get_remaining_time_in_millis(),
        }
        env = dict(os.environ) | {"PYTHONPATH": os.pathsep.join([str(self.code), str(self.runtime)])}
        with tempfile.TemporaryDirectory() as tmp:
            result = Path(tmp) / "result.json"
            done = subprocess.run(
                [sys.executable, "-S", "-c", _RUNNER, self.entry, str(result), json.dumps(meta)],
                input=json.dumps(event),
                capture_output=True,
                text=True,
                env=env,
                timeout=self.timeout_s + 5,
                check=False,
            )
            for line in (done.stdout + done.stderr).splitlines():
                print(line)
            if not result.exists():
                raise VersionFailed(f"Runtime.ExitError: the version's process exited {done.returncode}")
            outcome = json.loads(result.read_text())
        if "errorType" in outcome:
            raise VersionFailed(f"{outcome['errorType']}: {outcome['errorMessage']}")
        return outcome["response"]
