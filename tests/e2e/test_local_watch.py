"""`picops local run --watch`: an edit to code a handler imports is used from the next batch on, without a
restart; the queue keeps its messages and the runtime its counts (docs/local.md, "Watch mode")."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from picops.config import AwsSettings, Settings
from picops.local.runtime import LocalRuntime
from picops.local.watch import SourceWatcher
from picops.local.workers import EnvironmentLease

HANDLER = """
import os
from pathlib import Path

from wpkg.labels import label


def handle(event, context):
    with open(Path(__file__).parent / "sink.txt", "a") as sink:
        for _ in event["Records"]:
            sink.write(label() + "\\n")
    return {"batchItemFailures": []}


def handle_then_edit(event, context):
    # As `handle`, then saves a new labels.py: an edit made while the runtime serves.
    handle(event, context)
    labels = Path(__file__).parent / "labels.py"
    if "v1" in labels.read_text():
        before = labels.stat().st_mtime_ns
        labels.write_text('def label():\\n    return "v2"\\n')
        later = max(labels.stat().st_mtime_ns, before + 1_000_000)
        os.utime(labels, ns=(later, later))
    return {"batchItemFailures": []}
"""


def _write(path: Path, text: str) -> None:
    """Write and move the mtime forward: two edits within the filesystem's time resolution still differ."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    later = max(path.stat().st_mtime_ns, before + 1_000_000)
    os.utime(path, ns=(later, later))


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "wpkg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "handler.py").write_text(HANDLER)
    (root / "labels.py").write_text('def label():\n    return "v1"\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    yield root
    for name in [n for n in sys.modules if n == "wpkg" or n.startswith("wpkg.")]:
        del sys.modules[name]


def _runtime(server_factory: Any, endpoint: str, package: Path) -> tuple[LocalRuntime, Any, str]:
    sqs = server_factory.client("sqs")
    queue = sqs.create_queue(QueueName="watch-queue")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    record = {
        "logical": "WatchMapping",
        "function": "IngestFunction",
        "function_name": "picops-ingest",
        "handler": "wpkg.handler.handle",
        "source": "WatchQueue",
        "mapping": {
            "EventSourceArn": arn,
            "BatchSize": 10,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    }
    settings = Settings(aws=AwsSettings(region="us-east-1", endpoint_url=endpoint))
    watcher = SourceWatcher(package, "wpkg", reloadable=("wpkg",), poll_s=0)
    runtime = LocalRuntime(server_factory, settings, wait_s=0, mappings=[record], watch=watcher)
    runtime.prepare()
    return runtime, sqs, queue


def _deliver(runtime: LocalRuntime, sqs: Any, queue: str, package: Path) -> list[str]:
    sqs.send_message(QueueUrl=queue, MessageBody="{}")
    runtime.drain()
    return (package / "sink.txt").read_text().splitlines()


def test_an_edit_to_a_module_the_handler_imports_is_used_by_the_next_batch(
    server_factory: Any, endpoint: str, package: Path
) -> None:
    runtime, sqs, queue = _runtime(server_factory, endpoint, package)
    try:
        assert _deliver(runtime, sqs, queue, package) == ["v1"]
        _write(package / "labels.py", 'def label():\n    return "v2"\n')
        assert _deliver(runtime, sqs, queue, package) == ["v1", "v2"]
        # Half-way through an edit: the import fails, the function keeps the code it had.
        _write(package / "labels.py", "def label(:\n")
        assert _deliver(runtime, sqs, queue, package) == ["v1", "v2", "v2"]
        _write(package / "labels.py", 'def label():\n    return "v3"\n')
        assert _deliver(runtime, sqs, queue, package) == ["v1", "v2", "v2", "v3"]
    finally:
        runtime.close()
    doc = runtime.summary()
    reloads = doc["reloads"]
    assert [r["files"] for r in reloads] == [["wpkg/labels.py"]] * 3
    assert [r["functions"] for r in reloads] == [["IngestFunction"], [], ["IngestFunction"]]
    assert [bool(r["error"]) for r in reloads] == [False, True, False]
    assert "SyntaxError" in reloads[1]["error"]
    # The queue and the counts lived through the reloads: every message delivered once, in one run.
    assert (doc["mappings"][0]["records"], doc["mappings"][0]["failed_records"]) == (4, 0)


def test_a_change_outside_the_reloadable_packages_is_reported_as_needing_a_restart(
    server_factory: Any, endpoint: str, package: Path
) -> None:
    (package / "runtime_part").mkdir()
    (package / "runtime_part" / "__init__.py").write_text("")
    runtime, sqs, queue = _runtime(server_factory, endpoint, package)
    runtime.watch = SourceWatcher(package, "wpkg", reloadable=("wpkg.handler", "wpkg.labels"), poll_s=0)
    try:
        _write(package / "runtime_part" / "__init__.py", "X = 1\n")
        _write(package / "labels.py", 'def label():\n    return "v2"\n')
        assert _deliver(runtime, sqs, queue, package) == ["v2"]
    finally:
        runtime.close()
    (reload,) = runtime.summary()["reloads"]
    assert reload["restart_needed"] == ["wpkg/runtime_part/__init__.py"]
    assert reload["functions"] == ["IngestFunction"]


def test_a_reload_waits_for_the_running_invocation_and_holds_back_new_ones() -> None:
    lease = EnvironmentLease()
    running, release, order = threading.Event(), threading.Event(), []

    def invocation(name: str, wait: bool) -> None:
        with lease.hold("Fn", None, lambda _stack, _switched: None):
            order.append(f"{name} start")
            running.set()
            if wait:
                release.wait(5)
            order.append(f"{name} end")

    first = threading.Thread(target=invocation, args=("first", True))
    first.start()
    assert running.wait(5)

    def reload() -> None:
        with lease.paused():
            order.append("reload")
            time.sleep(0.1)  # a second invocation asked for meanwhile must not start
            order.append("reloaded")

    reloader = threading.Thread(target=reload)
    reloader.start()
    time.sleep(0.1)
    second = threading.Thread(target=invocation, args=("second", False))
    second.start()
    time.sleep(0.1)
    release.set()
    for t in (first, reloader, second):
        t.join(5)
    assert order == ["first start", "first end", "reload", "reloaded", "second start", "second end"]


@pytest.mark.usefixtures("iam_off")
def test_local_run_watch_reloads_between_batches_and_lists_the_reload(
    cli: Any, endpoint: str, server_factory: Any, package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import picops.cli.local as local_cli
    from tests import local_support as ls

    # The command watches the installed src/picops; here, the temporary package the mapping's handler is in.
    monkeypatch.setattr(
        local_cli, "_source_watcher", lambda: SourceWatcher(package, "wpkg", reloadable=("wpkg",), poll_s=0)
    )
    sqs = server_factory.client("sqs")
    queue = sqs.create_queue(QueueName="watch-cli")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    record = ls.mapping_record(
        "WatchMapping", queue_arn=arn, handler="wpkg.handler.handle_then_edit", batch_size=1
    )
    ls.record_mapping(server_factory, record)
    for _ in range(2):
        sqs.send_message(QueueUrl=queue, MessageBody="{}")
    run = cli("local", "run", "--once", "--watch", "--json", endpoint=endpoint)
    assert run.exit_code == 0, run.stderr
    # The first batch ran v1 and saved v2; the next batch ran v2, in the same run.
    assert (package / "sink.txt").read_text().splitlines() == ["v1", "v2"]
    (reload,) = run.json()["reloads"]
    assert reload["files"] == ["wpkg/labels.py"]
    assert reload["functions"] == ["IngestFunction"]
    assert "wpkg/labels.py changed: reloaded IngestFunction" in run.stderr
