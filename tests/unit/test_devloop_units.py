"""The developer's loop below the CLI: invocation log files, call stats, log parsing/filtering, remote invoke,
`--since`, `--follow` polling and `--until-idle`'s idle rule."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from picops.cli import logs as cli_logs
from picops.cli.invoke import read_event, remote_invoke
from picops.errors import UsageError, ValidationFailed
from picops.local import logfiles
from picops.local.invoke import FunctionTarget, Invoker
from picops.local.runtime import LocalRuntime
from picops.local.stats import MappingStats
from picops.stack.model import FunctionSpec

TARGET = FunctionTarget(
    "ModerationSweepFunction",
    "picops-moderation-sweep",
    "tests.fake.handler",
    timeout_s=60,
    memory_mb=256,
    arn="arn:aws:lambda:us-east-1:123456789012:function:picops-moderation-sweep:live",
)


def _invoker(tmp_path: Path) -> Invoker:
    return Invoker(endpoint_url="http://127.0.0.1:1", region="us-east-1", log_dir=tmp_path / "logs")


def test_an_invocation_is_logged_like_cloudwatch_and_its_output_kept_off_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logger = logging.getLogger("devloop-test")
    logger.addHandler(logging.StreamHandler(sys.stdout))
    logger.setLevel(logging.INFO)

    def handler(event: Any, context: Any) -> dict[str, Any]:
        print(json.dumps({"level": "INFO", "message": "hello", "n": event["n"]}))
        logger.info("from a stdout-bound logging handler")
        sys.stderr.write("to stderr\n")
        return {"ok": True}

    invoker = _invoker(tmp_path)
    try:
        result = invoker.invoke(TARGET, handler, {"n": 3})
    finally:
        logger.handlers.clear()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "hello" in captured.err
    assert "to stderr" in captured.err
    assert result.response == {"ok": True}
    assert result.logs == [
        '{"level": "INFO", "message": "hello", "n": 3}',
        "from a stdout-bound logging handler",
        "to stderr",
    ]
    events, offset = logfiles.read(logfiles.log_path(TARGET.name, tmp_path / "logs"))
    messages = [e["message"] for e in events]
    assert messages[0] == f"START RequestId: {result.request_id} Version: $LATEST"
    assert messages[1:4] == result.logs
    assert messages[4] == f"END RequestId: {result.request_id}"
    assert messages[5].startswith(f"REPORT RequestId: {result.request_id}\tDuration: ")
    assert "Memory Size: 256 MB" in messages[5]
    assert {e["logStreamName"] for e in events} == {events[0]["logStreamName"]}
    assert offset == logfiles.log_path(TARGET.name, tmp_path / "logs").stat().st_size


class _StaleStdout(io.StringIO):
    """A stdout that was replaced after a logging handler captured it (test runners swap sys.stdout)."""

    name = "<stdout>"


def test_output_of_a_handler_bound_to_a_replaced_stdout_is_still_captured(tmp_path: Path) -> None:
    stale = _StaleStdout()
    logger = logging.getLogger("devloop-stale")
    logger.addHandler(logging.StreamHandler(stale))
    logger.setLevel(logging.INFO)
    try:
        result = _invoker(tmp_path).invoke(TARGET, lambda e, c: logger.info("seen"), {})
    finally:
        logger.handlers.clear()
    assert result.logs == ["seen"]
    assert stale.getvalue() == ""


def test_a_handler_bound_to_a_closed_replaced_stdout_does_not_break_the_call(tmp_path: Path) -> None:
    stale = _StaleStdout()
    stale.close()
    logger = logging.getLogger("devloop-closed")
    logger.addHandler(logging.StreamHandler(stale))
    logger.setLevel(logging.INFO)
    try:
        result = _invoker(tmp_path).invoke(TARGET, lambda e, c: logger.info("still seen") or {"ok": 1}, {})
    finally:
        logger.handlers.clear()
    assert result.error is None
    assert result.response == {"ok": 1}
    assert result.logs == ["still seen"]


def test_a_raising_handler_logs_the_error_and_counts_it(tmp_path: Path) -> None:
    def handler(event: Any, context: Any) -> None:
        raise KeyError("nope")

    invoker = _invoker(tmp_path)
    invoker.invoke(TARGET, lambda e, c: {"ok": 1}, {})
    result = invoker.invoke(TARGET, handler, {})
    assert isinstance(result.error, KeyError)
    events, _ = logfiles.read(logfiles.log_path(TARGET.name, tmp_path / "logs"))
    assert "[ERROR] KeyError: 'nope'" in [e["message"] for e in events]
    assert any(e["message"].startswith("Traceback") for e in events)
    calls = invoker.calls["ModerationSweepFunction"].as_dict()
    assert calls["invocations"] == 2
    assert calls["errors"] == 1
    assert calls["function"] == "picops-moderation-sweep"
    assert calls["max_ms"] >= calls["mean_ms"] >= 0


def test_log_reader_skips_a_partial_last_line_and_resumes_at_it(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    logfiles.append(path, [logfiles.log_event(1, "s", "one")])
    with path.open("a") as handle:
        handle.write('{"timestamp": 2, "message": "tw')
    events, offset = logfiles.read(path)
    assert [e["message"] for e in events] == ["one"]
    with path.open("a") as handle:
        handle.write('o", "logStreamName": "s"}\n')
    more, _ = logfiles.read(path, offset=offset)
    assert [e["message"] for e in more] == ["two"]


def test_read_event_rejects_what_is_not_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValidationFailed, match="not JSON"):
        read_event(str(bad))
    with pytest.raises(UsageError, match="cannot read event file"):
        read_event(str(tmp_path / "missing.json"))
    good = tmp_path / "good.json"
    good.write_text('{"a": [1]}')
    assert read_event(str(good)) == {"a": [1]}


# -- remote invoke -------------------------------------------------------------------------------------

SPEC = FunctionSpec("ModerationSweepFunction", "picops-moderation-sweep", handler="x.y")


def _lambda_client() -> Any:
    import boto3

    return boto3.client("lambda", region_name="us-east-1")


def _body(doc: Any) -> StreamingBody:
    raw = json.dumps(doc).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def test_remote_invoke_calls_the_live_alias_and_reads_tail_logs() -> None:
    client = _lambda_client()
    tail = "START RequestId: r1\nhello\nREPORT RequestId: r1\tDuration: 12.50 ms\n"
    with Stubber(client) as stub:
        stub.add_response(
            "invoke",
            {
                "StatusCode": 200,
                "Payload": _body({"scanned": 3}),
                "LogResult": base64.b64encode(tail.encode()).decode(),
                "ExecutedVersion": "7",
            },
            {
                "FunctionName": "picops-moderation-sweep",
                "Qualifier": "live",
                "InvocationType": "RequestResponse",
                "LogType": "Tail",
                "Payload": b'{"id": "e"}',
            },
        )
        result = remote_invoke(client, SPEC, {"id": "e"})
    assert result["response"] == {"scanned": 3}
    assert result["error"] is None
    assert result["duration_ms"] == 12.5
    assert result["executed_version"] == "7"
    assert result["logs"][1] == "hello"


def test_remote_invoke_reports_a_function_error() -> None:
    client = _lambda_client()
    with Stubber(client) as stub:
        stub.add_response(
            "invoke",
            {
                "StatusCode": 200,
                "FunctionError": "Unhandled",
                "Payload": _body({"errorType": "ValueError", "errorMessage": "bad", "stackTrace": ["f.py"]}),
            },
        )
        result = remote_invoke(client, SPEC, {})
    assert result["response"] is None
    assert result["error"] == {"type": "ValueError", "message": "bad", "traceback": ["f.py"]}


# -- logs: parsing, filters, --since, --follow ----------------------------------------------------------


def test_powertools_and_plain_lines_are_parsed() -> None:
    line = cli_logs.parse_event(
        {
            "timestamp": 1000,
            "logStreamName": "s",
            "message": json.dumps(
                {"level": "WARNING", "message": "object not tagged", "service": "x", "key": "a.jpg"}
            ),
        }
    )
    assert (line.level, line.message, line.key_fields) == ("WARNING", "object not tagged", {"key": "a.jpg"})
    assert line.fields["service"] == "x"
    assert line.as_dict()["time"] == "1970-01-01T00:00:01.000Z"
    plain = cli_logs.parse_event({"timestamp": 0, "message": "[ERROR] KeyError: 'x'\n"})
    assert (plain.level, plain.message) == ("ERROR", "KeyError: 'x'")
    report = cli_logs.parse_event({"timestamp": 0, "message": "REPORT RequestId: r"})
    assert (report.level, report.message) == ("", "REPORT RequestId: r")
    assert 'key="a.jpg"' in cli_logs.format_row(line)


@pytest.mark.parametrize(
    ("pattern", "message", "expected"),
    [
        (None, "anything", True),
        ("ERROR", "an ERROR here", True),
        ("ERROR", "an error here", False),
        ('"object not" tagged', "object not tagged", True),
        ("ERROR -Timeout", "ERROR Timeout", False),
        ("?ERROR ?WARN", "a WARN", True),
        ("?ERROR ?WARN", "INFO", False),
        ('{ $.level = "ERROR" }', '{"level": "ERROR"}', True),
        ('{ $.level = "ERR*" }', '{"level": "ERROR"}', True),
        ('{ $.level != "ERROR" }', '{"level": "INFO"}', True),
        ('{ $.level = "ERROR" }', "ERROR plain text", False),
        ("{ $.n > 3 && $.ok = true }", '{"n": 4, "ok": true}', True),
        ("{ $.n > 3 && $.ok = true }", '{"n": 2, "ok": true}', False),
        ('{ $.a.b = 1 || $.level = "X" }', '{"a": {"b": 1}}', True),
        ('{ $.missing = "x" }', '{"level": "x"}', False),
    ],
)
def test_filter_patterns(pattern: str | None, message: str, expected: bool) -> None:
    assert cli_logs.compile_filter(pattern)(message) is expected


@pytest.mark.parametrize("pattern", ["[ip, user]", "{ $.level = }", '{ $.level = "x" '])
def test_unsupported_filter_patterns_are_usage_errors(pattern: str) -> None:
    with pytest.raises(UsageError):
        cli_logs.compile_filter(pattern)


def test_since_accepts_durations_and_times() -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    assert cli_logs.parse_since("10m", now=now) == int((now - dt.timedelta(minutes=10)).timestamp() * 1000)
    assert cli_logs.parse_since("1d", now=now) == int((now - dt.timedelta(days=1)).timestamp() * 1000)
    assert cli_logs.parse_since("2026-01-01T11:00:00Z") == int(
        dt.datetime(2026, 1, 1, 11, tzinfo=dt.UTC).timestamp() * 1000
    )
    with pytest.raises(UsageError, match="duration"):
        cli_logs.parse_since("yesterday")


def test_follow_yields_until_stopped() -> None:
    stop = threading.Event()
    batches = [[{"n": 1}], [], [{"n": 2}]]

    def fetch() -> list[dict[str, Any]]:
        batch = batches.pop(0)
        if not batches:
            stop.set()
        return batch

    assert list(cli_logs.follow(fetch, poll_s=0.0, stop=stop)) == [[{"n": 1}], [], [{"n": 2}]]


def test_file_source_returns_only_new_matching_events(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    logfiles.append(path, [logfiles.log_event(5, "s", "old ERROR"), logfiles.log_event(20, "s", "new ERROR")])
    source = cli_logs.FileSource(path, 10, "ERROR")
    assert [e["message"] for e in source.fetch()] == ["new ERROR"]
    assert source.fetch() == []
    logfiles.append(path, [logfiles.log_event(30, "s", "INFO"), logfiles.log_event(31, "s", "ERROR again")])
    assert [e["message"] for e in source.fetch()] == ["ERROR again"]


def test_cloudwatch_source_pages_through_filter_log_events_and_follows(aws: Any) -> None:
    logs = aws.client("logs")
    group = "/aws/lambda/picops-moderation-sweep"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="a")
    logs.create_log_stream(logGroupName=group, logStreamName="b")
    base = int(dt.datetime.now(dt.UTC).timestamp() * 1000) - 60_000
    logs.put_log_events(
        logGroupName=group,
        logStreamName="a",
        logEvents=[{"timestamp": base + i, "message": f"a{i}"} for i in range(3)],
    )
    logs.put_log_events(
        logGroupName=group,
        logStreamName="b",
        logEvents=[{"timestamp": base + 10 + i, "message": f"b{i}"} for i in range(3)],
    )
    source = cli_logs.CloudWatchSource(logs, group, base, None, page_size=2)
    assert [e["message"] for e in source.fetch()] == ["a0", "a1", "a2", "b0", "b1", "b2"]
    assert source.fetch() == []  # already shown
    logs.put_log_events(
        logGroupName=group, logStreamName="a", logEvents=[{"timestamp": base + 50, "message": "later"}]
    )
    assert [e["message"] for e in source.fetch()] == ["later"]


# -- --until-idle ----------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _runtime_with(polls: dict[str, list[int]], clock: FakeClock) -> LocalRuntime:
    """A runtime whose sources answer the given record counts, one per poll (then 0); a poll takes 0.5 s."""
    runtime = LocalRuntime.__new__(LocalRuntime)
    runtime.stats = [MappingStats(name, f"{name}Source", "h") for name in polls]
    sources = [object() for _ in polls]
    runtime.sources = list(zip(runtime.stats, sources, strict=True))  # type: ignore[arg-type]
    answers = {id(src): list(counts) for src, counts in zip(sources, polls.values(), strict=True)}

    def poll(stats: MappingStats, source: Any, *, draining: bool, wait_s: int) -> tuple[int, bool]:
        clock.now += 0.5
        queue = answers[id(source)]
        n = queue.pop(0) if queue else 0
        return n, n > 0

    runtime._poll = poll  # type: ignore[method-assign]
    return runtime


def test_until_idle_ends_once_every_source_stayed_empty_for_the_idle_time() -> None:
    clock = FakeClock()
    runtime = _runtime_with({"A": [3, 0, 2], "B": [1]}, clock)
    stop = threading.Event()
    pending = runtime.run_until_idle(idle_s=2.0, clock=clock, stop=stop)
    assert pending == []
    # A brought records in its third poll (t=2.5); idle means 2 s of empty polls after that.
    assert clock.now >= 4.5


def test_until_idle_times_out_with_what_is_pending() -> None:
    clock = FakeClock()
    runtime = _runtime_with({"A": [1] * 100, "B": []}, clock)
    pending = runtime.run_until_idle(idle_s=2.0, timeout_s=5.0, clock=clock, stop=threading.Event())
    assert [p["logical"] for p in pending] == ["A"]
    assert pending[0]["last_poll_records"] == 1
    assert 5.0 <= clock.now < 7.0


def test_until_idle_with_nothing_to_poll_returns_at_once() -> None:
    clock = FakeClock()
    runtime = _runtime_with({}, clock)
    assert runtime.run_until_idle(clock=clock, stop=threading.Event()) == []
    assert clock.now == 0.0
