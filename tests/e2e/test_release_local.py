"""A canary of a broken IngestFunction on the local stack: the runtime (`picops local run`, its own process)
sends the canary's share to the new version's own bundle, which fails every ingest; the deploy evaluates
IngestFunction's Errors alarm from the runtime's records, rolls the alias back, and the retries of what the
canary failed are handled by the old version: every upload processed, IngestDLQ empty, and the history
says rolled-back."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from picops.config import Settings
from picops.stack.names import StackNames
from tests import ingest_support as ins
from tests.deploy_support import RUNTIME

pytestmark = pytest.mark.e2e

SRC = str(Path(__file__).parents[2] / "src")


class Uploads:
    """Uploads a photo every `every_s` seconds from a thread until stopped: traffic during the canary."""

    def __init__(self, s3: Any, bucket: str, every_s: float = 0.1) -> None:
        self.s3, self.bucket, self.every_s = s3, bucket, every_s
        self.keys: list[str] = []
        self.stop = threading.Event()
        self.photo = ins.jpeg(320, 240)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            key = f"incoming/canary/{len(self.keys):04d}.jpg"
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=self.photo)
            self.keys.append(key)
            self.stop.wait(self.every_s)

    def __enter__(self) -> Uploads:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop.set()
        self.thread.join()


def _queue_depth(sqs: Any, name: str) -> int:
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _wait_drained(sqs: Any, queue: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _queue_depth(sqs, queue) and time.monotonic() < deadline:
        time.sleep(1)


def test_a_broken_canary_is_rolled_back_and_no_upload_is_lost(
    cli: Any, endpoint: str, server_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICOPS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PICOPS_DEPLOY__RUNTIME", RUNTIME)
    monkeypatch.setenv("PICOPS_DEPLOY__CACHE_DIR", str(tmp_path / "cache"))
    # IngestQueue's visibility is 6x the function's timeout: 30 s, so what the canary failed comes back soon.
    monkeypatch.setenv("PICOPS_DEPLOY__FUNCTIONS__INGESTFUNCTION__TIMEOUT_S", "5")
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    assert cli("deploy", "IngestFunction", "--json", endpoint=endpoint).exit_code == 0
    names = StackNames(Settings(), "123456789012", "us-east-1")
    run = [sys.executable, "-m", "picops.cli.main", "--endpoint-url", endpoint, "local", "run"]
    runtime = subprocess.Popen(
        [*run, "--duration", "150", "--api-port", "0", "--sweep-every", "0"],
        env=os.environ | {"PYTHONPATH": SRC},
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "runtime.log", "w"),  # noqa: SIM115 - closed with the process
    )
    try:
        # The broken version: a bundle without Pillow or Powertools, as a dependency slip would make it.
        monkeypatch.setenv("PICOPS_DEPLOY__DEPENDENCIES", '["pydantic"]')
        with Uploads(server_factory.client("s3"), names.uploads_bucket) as uploads:
            time.sleep(2)
            release = ("--strategy", "canary:50%:1min", "--interval-scale", "0.5", "--json")
            r = cli("deploy", "IngestFunction", *release, endpoint=endpoint)
        assert r.exit_code == 1, r.stderr
        (item,) = r.json()["functions"]
        assert (item["outcome"], item["version"], item["previous_version"]) == ("rolled-back", "1", "1")
        assert item["alarm"] == "picops-IngestFunction-errors"
        alias = server_factory.client("lambda").get_alias(
            FunctionName=names.physical("IngestFunction"), Name="live"
        )
        assert (
            alias["FunctionVersion"],
            alias.get("RoutingConfig", {}).get("AdditionalVersionWeights") or {},
        ) == (
            "1",
            {},
        )
        sqs = server_factory.client("sqs")
        _wait_drained(sqs, names.physical("IngestQueue"), timeout_s=90)
    finally:
        runtime.terminate()
        runtime.wait(timeout=30)
    log = (tmp_path / "runtime.log").read_text()
    assert (
        "Runtime.ImportModuleError"
        in (tmp_path / "state" / "logs" / f"{names.physical('IngestFunction')}.jsonl").read_text()
    ), log[-2000:]
    assert _queue_depth(sqs, names.physical("IngestQueue")) == 0
    assert _queue_depth(sqs, names.physical("IngestDLQ")) == 0
    processed = server_factory.client("s3").list_objects_v2(
        Bucket=names.physical("ProcessedBucket"), Prefix="thumbnails/incoming/canary/"
    )
    assert processed.get("KeyCount", 0) == len(uploads.keys) > 20
    (last, *_) = cli("deploy", "history", "IngestFunction", "--json", endpoint=endpoint).json()["history"]
    assert (last["version"], last["outcome"], last["strategy"]) == ("2", "rolled-back", "canary:50%:1min")
