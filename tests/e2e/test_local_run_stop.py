"""`picops local run` stops cleanly and runs once per endpoint and stack (the operator's first day)."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from picops.local import runtime_lock
from tests import local_support as ls
from tests import runtime_stop_support as rs

pytestmark = pytest.mark.e2e
# The ingest queue's visibility timeout: a message left in flight would be invisible this long.
VISIBILITY_S = "720"


def _queue_with_messages(factory: Any, n: int) -> tuple[str, str]:
    sqs = factory.client("sqs")
    url = sqs.create_queue(QueueName="stop-test", Attributes={"VisibilityTimeout": VISIBILITY_S})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for i in range(n):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    return url, arn


@pytest.mark.parametrize(
    ("sig", "mode"),
    [(signal.SIGINT, "--until-idle"), (signal.SIGTERM, "--once"), (signal.SIGINT, "--duration")],
)
@pytest.mark.usefixtures("iam_off")
def test_a_stop_gives_back_the_batch_in_hand_at_once_and_exits_130(
    cli: Any,
    endpoint: str,
    server_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
    sig: signal.Signals,
    mode: str,
) -> None:
    """The bug: Ctrl-C of `local run --until-idle` left the received messages invisible for 720 s, so the
    re-run reported idle with 10 messages in flight."""
    url, arn = _queue_with_messages(server_factory, 10)
    ls.record_mapping(
        server_factory,
        ls.mapping_record(
            "StopMapping", queue_arn=arn, handler="tests.runtime_stop_support.signalled_mid_batch"
        ),
    )
    monkeypatch.setattr(rs, "SIGNAL", sig)
    rs.CALLS.clear()
    before = signal.getsignal(sig)
    args = [mode, "30", "--api-port", "0"] if mode == "--duration" else [mode]
    started = time.monotonic()
    result = cli("local", "run", *args, "--json", endpoint=endpoint)
    assert result.exit_code == 130, result.stderr
    assert time.monotonic() - started < 30  # stopped in the batch, not after the handler's 60 s sleep
    assert len(rs.CALLS) == 1
    assert len(rs.CALLS[0]) == 10
    doc = result.json()
    assert doc["interrupted"] is True
    assert doc["released"] == 10
    # Visible again at once, none in flight: the next run sees them.
    assert ls.queue_counts(server_factory, url) == (10, 0)
    assert signal.getsignal(sig) == before  # the runtime's handlers are gone with it

    ls.record_mapping(
        server_factory,
        ls.mapping_record("StopMapping", queue_arn=arn, handler="tests.runtime_stop_support.ok_handler"),
    )
    rs.CALLS.clear()
    again = cli("local", "run", "--until-idle", "--json", endpoint=endpoint)
    assert again.exit_code == 0, again.stderr
    assert sorted(b for call in rs.CALLS for b in call) == sorted(f"m{i}" for i in range(10))
    assert ls.queue_counts(server_factory, url) == (0, 0)


@pytest.mark.usefixtures("iam_off")
def test_a_second_runtime_on_the_same_stack_exits_2_naming_the_first(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    """The bug: two `local run` at once both consumed the queues and the stream (100 records twice)."""
    url, arn = _queue_with_messages(server_factory, 3)
    ls.record_mapping(
        server_factory,
        ls.mapping_record("StopMapping", queue_arn=arn, handler="tests.runtime_stop_support.ok_handler"),
    )
    rs.CALLS.clear()
    with runtime_lock.hold(endpoint, "picops"):
        second = cli("local", "run", "--once", "--json", endpoint=endpoint)
        other_stack = cli("--stack", "other", "local", "run", "--once", endpoint=endpoint)
    assert second.exit_code == 2, second.stderr
    assert second.stdout == ""
    assert f"pid {os.getpid()}" in second.stderr
    assert rs.CALLS == []  # it consumed nothing
    assert ls.queue_counts(server_factory, url) == (3, 0)
    # Another stack on the same endpoint is another runtime's business (it has no mappings here: exit 3).
    assert other_stack.exit_code == 3, other_stack.stderr
    # Once the first is gone, the lock is free (a stale file does not block).
    assert cli("local", "run", "--once", "--json", endpoint=endpoint).exit_code == 0
    assert ls.queue_counts(server_factory, url) == (0, 0)


def test_the_lock_is_released_when_its_holder_dies(tmp_path: Any) -> None:
    import subprocess
    import sys

    code = (
        "import pathlib, time; from picops.local import runtime_lock\n"
        f"with runtime_lock.hold('http://127.0.0.1:4566', 's', pathlib.Path({str(tmp_path)!r})):\n"
        "    print('held', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        assert [h["pid"] for h in runtime_lock.holders(tmp_path)] == [proc.pid]
        with (
            pytest.raises(Exception, match=f"pid {proc.pid}"),
            runtime_lock.hold("http://127.0.0.1:4566", "s", tmp_path),
        ):
            pass
    finally:
        proc.kill()
        proc.wait()
    with runtime_lock.hold("http://127.0.0.1:4566", "s", tmp_path):
        assert runtime_lock.holders(tmp_path) == [
            {"pid": os.getpid(), "stack": "s", "endpoint_url": "http://127.0.0.1:4566"}
        ]
