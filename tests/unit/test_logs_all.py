"""`picops logs --all` and `--filter FIELD=VALUE` on local log files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from picops.cli.logs import FileSource, MergedSource, compile_filter, field_pattern, format_row, parse_event
from picops.local import logfiles


def _write(path: Path, *lines: tuple[int, dict[str, object]]) -> None:
    logfiles.append(path, [logfiles.log_event(ms, "s", json.dumps(doc)) for ms, doc in lines])


def test_field_equals_value_becomes_a_json_pattern_that_matches_only_that_field() -> None:
    assert field_pattern("booking_id=01J") == '{ $.booking_id = "01J" }'
    assert field_pattern('key=a"b') == '{ $.key = "a\\"b" }'
    # Anything else is a CloudWatch pattern already, passed on as written.
    for pattern in ("ERROR", '{ $.level = "ERROR" }', "a = b", None):
        assert field_pattern(pattern) == pattern
    match = compile_filter(field_pattern("seat_id=A1"))
    assert match(json.dumps({"seat_id": "A1"}))
    assert not match(json.dumps({"seat_id": "A10"}))
    assert not match("seat_id=A1 in plain text")


@pytest.mark.parametrize("pattern", ["booking_id=B1"])
def test_all_interleaves_every_function_by_time_and_names_each(tmp_path: Path, pattern: str) -> None:
    api, pay = tmp_path / "api.jsonl", tmp_path / "pay.jsonl"
    _write(
        api,
        (100, {"message": "accepted", "booking_id": "B1"}),
        (300, {"message": "other", "booking_id": "B2"}),
    )
    _write(
        pay, (200, {"message": "settled", "booking_id": "B1"}), (50, {"message": "early", "booking_id": "B1"})
    )
    source = MergedSource(
        {
            "BookingApiFunction": FileSource(api, 0, field_pattern(pattern)),
            "PaymentFunction": FileSource(pay, 0, field_pattern(pattern)),
        }
    )
    lines = [parse_event(e) for e in source.fetch()]
    assert [(line.timestamp, line.function, line.message) for line in lines] == [
        (50, "PaymentFunction", "early"),
        (100, "BookingApiFunction", "accepted"),
        (200, "PaymentFunction", "settled"),
    ]
    assert lines[0].as_dict()["function"] == "PaymentFunction"
    assert "PaymentFunction  " in format_row(lines[0])
    # Following: only what was appended since.
    _write(api, (400, {"message": "again", "booking_id": "B1"}))
    assert [e["function"] for e in source.fetch()] == ["BookingApiFunction"]
