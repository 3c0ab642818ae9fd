"""The bookings Lambdas' generated IAM policies match what their code calls (the approach of
tests/functional/test_moderation_iam.py, applied to BookingApiFunction, InventoryFunction and
PaymentFunction).

Each handler runs on moto with real-shaped events (a booking accepted, read back, advanced, charged with an
approving, a declining and a timing-out card); every API call its clients make is recorded, mapped to the IAM
action(s) AWS authorises it with (each item of a TransactWriteItems as its own action), and must be granted by
the function's role in the model; every granted action must be used by the code or by the Lambda service on
the function's behalf.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from picops.aws import ClientFactory
from picops.handlers import _env
from picops.stack.build import build_model
from picops.stack.iam import SQS_CONSUME
from tests import bookings_support as bs
from tests.functional import test_moderation_iam as mi

_LOGS = {
    "logs:CreateLogStream": "the runtime writes the function's logs",
    "logs:PutLogEvents": "the runtime writes the function's logs",
}
SERVICE_SIDE: dict[str, dict[str, str]] = {
    "BookingApiFunction": dict(_LOGS),
    "InventoryFunction": {
        **_LOGS,
        **dict.fromkeys(SQS_CONSUME, "the event source mapping polls InventoryQueue"),
    },
    "PaymentFunction": {**_LOGS, **dict.fromkeys(SQS_CONSUME, "the event source mapping polls PaymentQueue")},
}


@pytest.fixture
def recorder(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[mi.Recorder]:

    for fn, reasons in SERVICE_SIDE.items():
        monkeypatch.setitem(mi.SERVICE_SIDE, fn, reasons)
    recording = mi.Recorder()
    original = ClientFactory.client

    def client(self: ClientFactory, service: str, *, concurrency: int = 10) -> Any:
        made = original(self, service, concurrency=concurrency)
        recording.attach(made)
        return made

    monkeypatch.setattr(ClientFactory, "client", client)
    monkeypatch.setenv("AWS_REGION", bs.REGION)
    _env.reset()
    bs.create_table(aws.client("dynamodb"))
    aws.client("sns").create_topic(
        Name="picops-booking.fifo", Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "false"}
    )
    yield recording
    _env.reset()


def _policy(function: str) -> dict[str, Any]:

    model = build_model(_env.settings(), bs.ACCOUNT, bs.REGION)
    document: dict[str, Any] = json.loads(model.get(f"{function}Role").document)  # type: ignore[attr-defined]
    return document


def _calls(recorder: mi.Recorder) -> dict[str, list[mi.Call]]:
    from picops.handlers import bookings

    by_function: dict[str, list[mi.Call]] = {}

    def run(fn: str, handler: Any, event: dict[str, Any], context: Any) -> Any:
        start = len(recorder.calls)
        response = recorder.run(handler, event, context)
        by_function.setdefault(fn, []).extend(recorder.calls[start:])
        return response

    messages: list[str] = []
    for customer, token in (("ana", "tok_decline_x"), ("ben", "tok_timeout"), ("cy", "tok_visa")):
        event = bs.post_event(bs.booking_body("gala", "A1", customer, token))
        response = run("BookingApiFunction", bookings.api_handler, event, bs.API_CONTEXT)
        assert response["statusCode"] == 202, response
        receipt = json.loads(response["body"])
        messages.append(
            json.dumps(
                {
                    "booking_id": receipt["booking_id"],
                    "event_id": "gala",
                    "seat_id": "A1",
                    "position": receipt["position"],
                }
            )
        )
    got = run(
        "BookingApiFunction",
        bookings.api_handler,
        bs.get_event(json.loads(messages[0])["booking_id"]),
        bs.API_CONTEXT,
    )
    assert got["statusCode"] == 200
    batch = [bs.Message(f"m{i}", body, "gala/A1", f"d{i}", 1) for i, body in enumerate(messages)]
    assert run(
        "InventoryFunction",
        bookings.inventory_handler,
        bs.sqs_event(batch, "inventory"),
        bs.INVENTORY_CONTEXT,
    ) == {"batchItemFailures": []}
    # Decline (ana), unknown then approved on the immediate retry (ben).
    assert run(
        "PaymentFunction", bookings.payment_handler, bs.sqs_event(batch, "payment"), bs.PAYMENT_CONTEXT
    ) == {"batchItemFailures": []}
    seat = bookings._store(bs.ACCOUNT).load_seat("gala", "A1")
    assert seat is not None
    assert seat.state.value == "SOLD"
    return by_function


@pytest.mark.parametrize("function", ["BookingApiFunction", "InventoryFunction", "PaymentFunction"])
def test_booking_function_policy_grants_exactly_what_its_handler_calls(
    recorder: mi.Recorder, function: str
) -> None:
    calls = _calls(recorder)[function]
    assert calls
    policy = _policy(function)
    assert mi.ungranted(calls, policy) == []
    assert mi.unused(function, calls, policy) == []


def test_the_check_catches_a_missing_transaction_grant(recorder: mi.Recorder) -> None:
    calls = _calls(recorder)["PaymentFunction"]
    assert any(c.operation == "TransactWriteItems" for c in calls)
    policy = _policy("PaymentFunction")
    narrowed = copy.deepcopy(policy)
    for statement in narrowed["Statement"]:
        if statement["Sid"] == "Bookings":
            statement["Action"] = [a for a in statement["Action"] if a != "dynamodb:UpdateItem"]
    problems = mi.ungranted(calls, narrowed)
    assert any("TransactWriteItems needs dynamodb:UpdateItem" in p for p in problems), problems
    extra = copy.deepcopy(policy)
    extra["Statement"].append(
        {"Sid": "X", "Effect": "Allow", "Action": ["dynamodb:DeleteItem"], "Resource": [mi._table(bs.TABLE)]}
    )
    assert mi.unused("PaymentFunction", calls, extra) == ["dynamodb:DeleteItem"]
