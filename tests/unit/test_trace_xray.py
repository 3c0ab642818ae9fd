"""`picops trace`'s X-Ray links: the trace ids Powertools writes on each log line, found in the Logs Insights
rows, linked in the console of the stack's region (and partition), or a note saying why there are none."""

from __future__ import annotations

import json
from typing import Any

from botocore.stub import Stubber

from picops.aws import ClientFactory
from picops.config import AwsSettings
from picops.core.trace.logs import query_insights
from picops.core.trace.xray import trace_url, xray_of

ROOT_A = "1-6570a0b1-5f2b1c3d4e5f60718293a4b5"
ROOT_B = "1-6570a0b2-0a1b2c3d4e5f60718293a4b6"
GROUPS = {"/aws/lambda/picops-ingest": "IngestFunction"}


def _row(at: str, trace_id: str | None) -> list[dict[str, str]]:
    line: dict[str, Any] = {"level": "INFO", "message": "object processed", "key": "k.jpg"}
    if trace_id:
        line["xray_trace_id"] = trace_id
    return [
        {"field": "@timestamp", "value": at},
        {"field": "@message", "value": json.dumps(line)},
        {"field": "@log", "value": "123456789012:/aws/lambda/picops-ingest"},
    ]


def _lines() -> list[Any]:
    logs = ClientFactory(AwsSettings(region="us-east-1")).client("logs")
    stub = Stubber(logs)
    stub.add_response("start_query", {"queryId": "q"})
    rows = [
        _row("2026-12-04 07:20:21.100", ROOT_B),
        _row("2026-12-04 07:20:21.200", None),  # a line written outside any invocation
        _row("2026-12-04 07:20:22.300", ROOT_A),
        _row("2026-12-04 07:20:23.400", ROOT_B),
    ]
    stub.add_response("get_query_results", {"status": "Complete", "results": rows}, {"queryId": "q"})
    with stub:
        return query_insights(logs, GROUPS, [{"key": "k.jpg"}], 0, 1000, sleep=lambda _: None)


def test_each_trace_of_the_lines_is_linked_once_in_the_order_it_was_first_seen() -> None:
    lines = _lines()
    # The id is kept off the shown fields (it is Powertools' context, not the line's subject).
    assert all("xray_trace_id" not in e.fields for e in lines)
    found = xray_of(lines, region="eu-west-1", tracing=True, local=False)
    assert found.trace_ids == [ROOT_B, ROOT_A]
    assert found.links == [
        f"https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#xray:traces/{ROOT_B}",
        f"https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#xray:traces/{ROOT_A}",
    ]
    assert found.note == ""


def test_without_tracing_or_on_a_local_endpoint_there_are_no_links_and_a_note_says_why() -> None:
    lines = _lines()
    off = xray_of(lines, region="us-east-1", tracing=False, local=False)
    assert (off.trace_ids, off.links) == ([], [])
    assert "tracing is off" in off.note
    local = xray_of(lines, region="us-east-1", tracing=True, local=True)
    assert (local.trace_ids, local.links) == ([], [])
    assert "local endpoint" in local.note
    none = xray_of([e for e in lines if not e.trace_id], region="us-east-1", tracing=True, local=False)
    assert none.trace_ids == []
    assert "no log line" in none.note


def test_links_open_the_console_of_the_region_s_partition() -> None:
    assert trace_url("us-gov-west-1", ROOT_A).startswith(
        "https://console.amazonaws-us-gov.com/cloudwatch/home?region=us-gov-west-1#xray:traces/"
    )
    assert trace_url("cn-north-1", ROOT_A).startswith("https://console.amazonaws.cn/")
