"""The executor's bounded wait for IAM/policy propagation: only the known "not yet" answers are retried."""

from __future__ import annotations

import botocore.exceptions
import pytest

from picops.provision import apply


def _error(code: str, message: str) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": message}}, "CreateEventSourceMapping"
    )


def test_not_yet_answers_are_retried_until_they_succeed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apply, "PROPAGATION_STEP_S", 0.0)
    answers = [
        _error("InvalidParameterValueException", "The provided execution role does not have permissions"),
        _error("InvalidArgument", "Unable to validate the following destination configurations"),
    ]

    def call() -> str:
        if answers:
            raise answers.pop(0)
        return "created"

    assert apply._eventually(call) == "created"
    assert answers == []


def test_other_errors_and_the_deadline_are_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apply, "PROPAGATION_STEP_S", 0.0)
    calls = []

    def wrong() -> None:
        calls.append(1)
        raise _error("InvalidParameterValueException", "BatchSize must be at most 10")

    with pytest.raises(botocore.exceptions.ClientError, match="BatchSize"):
        apply._eventually(wrong)
    assert calls == [1]

    monkeypatch.setattr(apply, "PROPAGATION_WAIT_S", 0.0)

    def never() -> None:
        raise _error("ContinuousBackupsUnavailableException", "Backups are being enabled")

    with pytest.raises(botocore.exceptions.ClientError, match="Backups"):
        apply._eventually(never)
