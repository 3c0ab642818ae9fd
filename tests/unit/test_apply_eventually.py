"""The one bounded wait for IAM/policy propagation (provision, deploy): only "not yet" is retried."""

from __future__ import annotations

import botocore.exceptions
import pytest

from picops.provision import propagation


def _error(code: str, message: str) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": message}}, "CreateEventSourceMapping"
    )


def test_not_yet_answers_are_retried_until_they_succeed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(propagation, "FIRST_STEP_S", 0.0)
    answers = [
        _error("InvalidParameterValueException", "The provided execution role does not have permissions"),
        _error("InvalidArgument", "Unable to validate the following destination configurations"),
    ]

    def call() -> str:
        if answers:
            raise answers.pop(0)
        return "created"

    assert propagation.wait_for_propagation(call) == "created"
    assert answers == []


def test_other_errors_and_the_deadline_are_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(propagation, "FIRST_STEP_S", 0.0)
    calls = []

    def wrong() -> None:
        calls.append(1)
        raise _error("InvalidParameterValueException", "BatchSize must be at most 10")

    with pytest.raises(botocore.exceptions.ClientError, match="BatchSize"):
        propagation.wait_for_propagation(wrong)
    assert calls == [1]

    monkeypatch.setattr(propagation, "BUDGET_S", 0.0)

    def never() -> None:
        raise _error("ContinuousBackupsUnavailableException", "Backups are being enabled")

    with pytest.raises(botocore.exceptions.ClientError, match="Backups"):
        propagation.wait_for_propagation(never)


def test_the_wait_is_bounded_and_backs_off(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fake clock: each sleep advances it; the helper must stop once the budget is spent.
    now = [0.0]
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += seconds

    def never() -> None:
        raise _error("InvalidParameterValueException", "The role cannot be assumed by Lambda.")

    monkeypatch.setattr(propagation, "BUDGET_S", 20.0)
    with pytest.raises(botocore.exceptions.ClientError, match="cannot be assumed"):
        propagation.wait_for_propagation(never, sleep=sleep, clock=lambda: now[0])
    assert pauses[:4] == [1.0, 2.0, 4.0, 5.0]
    assert max(pauses) <= propagation.MAX_STEP_S
    assert sum(pauses) == pytest.approx(20.0)  # never waits past the budget


def test_deploy_and_provision_share_the_one_helper() -> None:
    from picops.provision import deploy
    from picops.provision.kinds import bucket, bucket_notification, event_source_mapping, kms_key, table

    for waiter in (bucket, bucket_notification, event_source_mapping, kms_key, table, deploy):
        assert waiter.wait_for_propagation is propagation.wait_for_propagation, waiter.__name__


def test_a_stream_mapping_made_before_its_role_propagates_is_retried() -> None:
    # Lambda's answer while the new role's DynamoDB-stream grants are not yet effective (Stubber: the exact
    # error shape CreateEventSourceMapping returns); the mapping must be created once they are.
    from botocore.stub import Stubber

    from picops.aws import ClientFactory
    from picops.config import AwsSettings

    lam = ClientFactory(AwsSettings(region="us-east-1")).client("lambda")
    stream = "arn:aws:dynamodb:us-east-1:123456789012:table/moderation/stream/2026-01-01T00:00:00.000"
    params = {"EventSourceArn": stream, "FunctionName": "moderate", "StartingPosition": "LATEST"}
    stub = Stubber(lam)
    stub.add_client_error(
        "create_event_source_mapping",
        service_error_code="InvalidParameterValueException",
        service_message=(
            f"Cannot access stream {stream}. Please ensure the role can perform the GetRecords, "
            "GetShardIterator, DescribeStream, and ListStreams Actions on your stream in IAM."
        ),
        http_status_code=400,
        expected_params=params,
    )
    stub.add_response("create_event_source_mapping", {"UUID": "2f1d7c0e-0b4a-4c8e-9a51-6f3e2d1c0b9a"}, params)
    pauses: list[float] = []
    with stub:
        created = propagation.wait_for_propagation(
            lambda: lam.create_event_source_mapping(**params), sleep=pauses.append
        )
    stub.assert_no_pending_responses()
    assert created["UUID"] == "2f1d7c0e-0b4a-4c8e-9a51-6f3e2d1c0b9a"
    assert pauses == [propagation.FIRST_STEP_S]
