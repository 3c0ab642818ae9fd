"""A new user's first day on a fresh clone, as real processes: the walkthrough docs/operating.md describes.

Each step is one the operator's day once tripped over (docs/operating.md, "First day"): the policy handed to
an admin before any access exists, hints that keep the target, a teardown of thousands of object versions and
delete markers in one run, a dry run that reports instead of refusing, the data rule settled before any
question, and an endpoint that leaves nothing running.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from picops.local.endpoint import free_port, port_is_free

pytestmark = pytest.mark.e2e

ACCOUNT = "123456789012"
UPLOADS = f"picops-uploads-{ACCOUNT}-us-east-1"
# Enough versions and delete markers that one ListObjectVersions page (1,000) cannot hold them.
OBJECTS, OVERWRITTEN, DELETED = 900, 300, 300


def picops(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "picops", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env if env is not None else os.environ,
        input=stdin,
    )


def test_first_day_on_a_fresh_clone(tmp_path: Path) -> None:
    assert not (tmp_path / ".picops").exists()
    # The policy an admin needs before any access exists: no credentials, no endpoint, no AWS call.
    bare = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    policy = picops("provision", "--print-policy", "--account", ACCOUNT, env=bare)
    assert policy.returncode == 0, policy.stderr
    assert json.loads(policy.stdout)["Statement"]

    port = free_port()
    up = picops("local", "up", "--detach", "--port", str(port), "--json")
    assert up.returncode == 0, up.stderr
    try:
        _day(port)
    finally:
        down = picops("local", "down")
    assert down.returncode == 0, down.stderr
    assert port_is_free(port)


def _day(port: int) -> None:
    # Before provisioning, the hint to provision keeps `--local`: run as written it targets this endpoint.
    status = picops("--local", "status")
    assert status.returncode != 0
    assert "picops --local provision" in status.stderr, status.stderr

    provision = picops("--local", "provision", "--yes", "--json")
    assert provision.returncode == 0, provision.stderr
    versions = _uploads(f"http://127.0.0.1:{port}")
    assert versions > 1_000

    # A dry run reports what would go and what needs --delete-data; it refuses nothing and deletes nothing.
    dry = picops("--local", "destroy", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    details = {r["logical"]: r["detail"] for r in json.loads(dry.stdout)["resources"]}
    assert details["UploadsBucket"] == "holds objects (needs --delete-data)"
    # The data rule is settled before the question: refused at once, never asked.
    refused = picops("--local", "destroy", stdin="y\n")
    assert refused.returncode == 2
    assert "--delete-data" in refused.stderr
    assert "[y/N]" not in refused.stdout + refused.stderr

    # One run empties every bucket (versions, delete markers, the access logs) and removes the stack.
    gone = picops("--local", "destroy", "--delete-data", "--yes", "--json")
    assert gone.returncode == 0, gone.stderr
    assert "BucketNotEmpty" not in gone.stderr
    after = picops("--local", "status", "--json")
    assert after.returncode == 1
    assert {r["status"] for r in json.loads(after.stdout)["resources"]} == {"missing"}


def _uploads(endpoint: str) -> int:
    """Objects, overwrites (versions) and deletes (delete markers) in the versioned uploads bucket, with the
    real API as a user's uploader would make them; returns how many versions and markers the bucket holds."""
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    keys = [f"incoming/walk/{i:04d}.txt" for i in range(OBJECTS)]
    for key in keys:
        s3.put_object(Bucket=UPLOADS, Key=key, Body=b"x")
    for key in keys[:OVERWRITTEN]:
        s3.put_object(Bucket=UPLOADS, Key=key, Body=b"y")
    for key in keys[-DELETED:]:
        s3.delete_object(Bucket=UPLOADS, Key=key)
    count = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=UPLOADS):
        count += len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))
    return count
