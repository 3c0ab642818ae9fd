"""Handler output on the terminal during `picops local run`: one short line per record, metrics counted."""

from __future__ import annotations

import json

from picops.local.handler_logs import HandlerLogView, emf_counts, human_line
from picops.stack.metrics import service_name

EMF = {
    "_aws": {
        "Timestamp": 1,
        "CloudWatchMetrics": [
            {
                "Namespace": "PicOps",
                "Dimensions": [["service", "kind"]],
                "Metrics": [{"Name": "ModerationTagged", "Unit": "Count"}],
            }
        ],
    },
    "service": "picops",
    "kind": "stream",
    "ModerationTagged": [2, 1],
}
RECORD = {
    "level": "WARNING",
    "location": "handle:148",
    "message": "object failed",
    "timestamp": "2026-12-04 03:10:00,000+0000",
    "service": "picops",
    "cold_start": True,
    "function_name": "picops-ingest",
    "function_request_id": "c6af9ac6",
    "job_id": "J1",
    "key": "incoming/photo.jpg",
    "reason": "x" * 200,
}


def test_a_record_is_one_short_line_with_its_level_function_message_and_ids() -> None:
    line = human_line("IngestFunction", RECORD)
    assert line.startswith("WARNING IngestFunction  object failed  job_id=J1 key=incoming/photo.jpg")
    assert "cold_start" not in line
    assert "c6af9ac6" not in line
    assert len(line) < 160


def test_emf_values_are_summed_per_metric_name_and_other_json_is_not_emf() -> None:
    assert emf_counts(EMF) == {"ModerationTagged": 3.0}
    assert emf_counts(RECORD) is None


def test_human_view_hides_metric_lines_and_counts_them() -> None:
    shown: list[str] = []
    view = HandlerLogView("human", shown.append)
    view.line("ModerationStreamFunction", json.dumps(EMF))
    view.line("ModerationStreamFunction", json.dumps(EMF))
    view.line("IngestFunction", json.dumps(RECORD))
    view.line("IngestFunction", "Traceback (most recent call last):")
    assert view.summary() == {"ModerationTagged": 6.0}
    assert len(shown) == 2
    assert shown[0].startswith("WARNING IngestFunction  object failed")
    assert shown[1] == "Traceback (most recent call last):"


def test_json_view_prints_every_line_as_written() -> None:
    shown: list[str] = []
    view = HandlerLogView("json", shown.append)
    lines = [json.dumps(EMF), json.dumps(RECORD)]
    for text in lines:
        view.line("IngestFunction", text)
    assert shown == lines
    assert view.summary() == {"ModerationTagged": 3.0}


def test_the_default_stack_s_service_is_picops_not_picops_picops() -> None:
    assert service_name("picops") == "picops"
    assert service_name("picops-staging") == "picops-staging"
    assert service_name("photos") == "picops-photos"


def test_verbose_means_raw_json_unless_a_format_is_given() -> None:
    import pytest

    from picops.errors import UsageError
    from picops.local.handler_logs import log_format_of

    assert log_format_of(None, verbose=False) == "human"
    assert log_format_of(None, verbose=True) == "json"
    assert log_format_of("human", verbose=True) == "human"
    with pytest.raises(UsageError, match="--log-format 'xml'"):
        log_format_of("xml", verbose=False)
