"""Lambda's batch semantics as the local runtime applies them (delete / retry decisions)."""

from __future__ import annotations

from typing import Any

from picops.local.batches import sqs_outcome, stream_outcome


def _sqs(*specs: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"messageId": mid, "attributes": {"MessageGroupId": group}} for mid, group in specs]


def _failures(*ids: str) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}


RECORDS = _sqs(("a", "g1"), ("b", "g1"), ("c", "g2"), ("d", "g1"), ("e", "g2"))


def test_sqs_report_failures_deletes_all_but_the_reported() -> None:
    out = sqs_outcome(RECORDS, response=_failures("b"), error=None, report_failures=True, fifo=False)
    assert out.delete == ("a", "c", "d", "e")
    assert out.failed == ("b",)
    assert out.detail is None


def test_sqs_empty_or_missing_response_is_success() -> None:
    for response in (None, {}, {"batchItemFailures": []}, "ignored"):
        out = sqs_outcome(RECORDS, response=response, error=None, report_failures=True, fifo=False)
        assert out.failed == ()
        assert len(out.delete) == 5


def test_sqs_error_keeps_every_message() -> None:
    for report in (True, False):
        out = sqs_outcome(RECORDS, response=None, error=RuntimeError("x"), report_failures=report, fifo=False)
        assert out.delete == ()
        assert out.failed == ("a", "b", "c", "d", "e")
        assert out.detail
        assert "RuntimeError" in out.detail


def test_sqs_without_report_failures_ignores_the_response() -> None:
    out = sqs_outcome(RECORDS, response=_failures("b"), error=None, report_failures=False, fifo=False)
    assert out.failed == ()
    assert out.delete == ("a", "b", "c", "d", "e")


def test_sqs_invalid_identifiers_fail_the_whole_batch() -> None:
    for response in (_failures("zzz"), _failures(""), {"batchItemFailures": [{}]}, {"batchItemFailures": 3}):
        out = sqs_outcome(RECORDS, response=response, error=None, report_failures=True, fifo=False)
        assert out.delete == ()
        assert len(out.failed) == 5
        assert out.detail
        assert "invalid batch response" in out.detail


def test_fifo_failure_blocks_later_messages_of_its_group_only() -> None:
    out = sqs_outcome(RECORDS, response=_failures("b"), error=None, report_failures=True, fifo=True)
    # b fails -> d (same group, later) fails too; a (earlier) and group g2 are deleted.
    assert out.failed == ("b", "d")
    assert out.delete == ("a", "c", "e")


def _stream(*seqs: str) -> list[dict[str, Any]]:
    return [{"dynamodb": {"SequenceNumber": s}} for s in seqs]


def test_stream_retries_from_the_lowest_reported_sequence() -> None:
    out = stream_outcome(
        _stream("1", "2", "3", "4"), response=_failures("4", "2"), error=None, report_failures=True
    )
    assert out.retry_from == 1
    assert out.function_error is False


def test_stream_success_and_error() -> None:
    records = _stream("1", "2")
    assert stream_outcome(records, response=None, error=None, report_failures=True).retry_from is None
    assert (
        stream_outcome(records, response=_failures("2"), error=None, report_failures=False).retry_from is None
    )
    failed = stream_outcome(records, response=None, error=ValueError("x"), report_failures=True)
    assert (failed.retry_from, failed.function_error) == (0, True)
    invalid = stream_outcome(records, response=_failures("9"), error=None, report_failures=True)
    assert (invalid.retry_from, invalid.function_error) == (0, True)
