"""Reserved concurrency preflight: the account's limits (Lambda GetAccountSettings, stubbed) and the SQS
mappings' caps. AWS refuses reservations leaving fewer than 100 executions unreserved."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from picops.config import load_settings
from picops.errors import ConfigError
from picops.provision import live
from picops.provision.plan import Change, Plan
from picops.provision.preflight import check_concurrency, check_model, preflight
from picops.stack.build import build_model
from picops.stack.model import FunctionSpec, StackModel
from picops.stack.names import StackNames

ACCOUNT, REGION = "123456789012", "us-east-1"


class _Factory:
    """Just what preflight asks of a ClientFactory: whether it is local, and a (stubbed) Lambda client."""

    def __init__(self, lam: Any, *, is_local: bool = False) -> None:
        self.lam = lam
        self.is_local = is_local

    def client(self, service: str, **_: Any) -> Any:
        assert service == "lambda", service
        return self.lam


@pytest.fixture
def lam() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "lambda", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _reserved(**functions: int) -> dict[str, Any]:
    return {"deploy": {"functions": {fn: {"reserved_concurrency": n} for fn, n in functions.items()}}}


def _plan(
    lam: Any, sections: dict[str, Any], *, live_reserved: dict[str, int] | None = None, is_local: bool = False
) -> Plan:
    settings = load_settings(overrides=sections, use_files=False)
    model: StackModel = build_model(settings, ACCOUNT, REGION)
    ctx = live.Context(
        factory=_Factory(lam, is_local=is_local),  # type: ignore[arg-type]
        model=model,
        names=StackNames(settings, ACCOUNT, REGION),
    )
    changes = []
    for resource in model.ordered():
        current = None
        if isinstance(resource, FunctionSpec):
            current = {"ReservedConcurrentExecutions": (live_reserved or {}).get(resource.logical)}
        changes.append(Change(resource, "noop", live=current))
    return Plan(ctx, changes)


def _account(stubber: Stubber, limit: int, unreserved: int) -> None:
    stubber.add_response(
        "get_account_settings",
        {
            "AccountLimit": {
                "TotalCodeSize": 80530636800,
                "CodeSizeUnzipped": 262144000,
                "CodeSizeZipped": 52428800,
                "ConcurrentExecutions": limit,
                "UnreservedConcurrentExecutions": unreserved,
            },
            "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0},
        },
        {},
    )


def test_a_new_account_with_a_limit_of_ten_refuses_any_reservation_naming_the_numbers(lam: Any) -> None:
    client, stubber = lam
    _account(stubber, limit=10, unreserved=10)
    plan = _plan(client, _reserved(PaymentFunction=5))
    with pytest.raises(ConfigError) as info:
        preflight(plan)
    assert info.value.exit_code == 2
    message = str(info.value)
    assert "reserved concurrency 5 (PaymentFunction 5)" in message
    assert "would leave 5 of the account's 10 concurrent executions" in message
    assert "at least 100 unreserved" in message
    assert "[deploy.functions.<Logical>] reserved_concurrency" in message


def test_reservations_that_leave_exactly_one_hundred_pass(lam: Any) -> None:
    client, stubber = lam
    _account(stubber, limit=1000, unreserved=1000)
    assert check_concurrency(_plan(client, _reserved(IngestFunction=850, PaymentFunction=50))) == []


def test_one_more_than_that_fails_and_counts_other_functions_reservations(lam: Any) -> None:
    client, stubber = lam
    # 300 of 1000 reserved by other functions of the account: 700 unreserved.
    _account(stubber, limit=1000, unreserved=700)
    problems = check_concurrency(_plan(client, _reserved(IngestFunction=601)))
    assert len(problems) == 1
    assert "would leave 99 of the account's 1000" in problems[0]
    assert "(300 reserved by other functions)" in problems[0]


def test_this_stacks_current_reservations_are_not_counted_twice(lam: Any) -> None:
    client, stubber = lam
    # IngestFunction already reserves 200 (so only 800 are unreserved); raising it to 900 leaves exactly 100.
    _account(stubber, limit=1000, unreserved=800)
    plan = _plan(client, _reserved(IngestFunction=900), live_reserved={"IngestFunction": 200})
    assert check_concurrency(plan) == []


def test_no_reservation_asks_nothing_of_the_account(lam: Any) -> None:
    client, _ = lam  # the stubber fails any call it has no response for
    assert check_concurrency(_plan(client, {})) == []
    assert check_concurrency(_plan(client, _reserved(PaymentFunction=0))) == []  # 0 reserves nothing


def test_a_local_endpoint_has_no_account_limits_to_check(lam: Any) -> None:
    client, _ = lam
    assert check_concurrency(_plan(client, _reserved(PaymentFunction=500), is_local=True)) == []


def test_access_denied_on_get_account_settings_surfaces_as_the_aws_error(lam: Any) -> None:
    client, stubber = lam
    stubber.add_client_error("get_account_settings", "AccessDeniedException", "not allowed", 403)
    with pytest.raises(client.exceptions.ClientError, match="AccessDeniedException"):
        check_concurrency(_plan(client, _reserved(PaymentFunction=5)))


def test_reserving_less_than_an_sqs_mappings_cap_is_refused_statically() -> None:
    settings = load_settings(
        overrides={**_reserved(IngestFunction=5), "ingest": {"max_concurrency": 8}}, use_files=False
    )
    problems = check_model(build_model(settings, ACCOUNT, REGION))
    assert len(problems) == 1
    assert (
        "IngestFunction: reserved_concurrency 5 is below IngestFunctionMapping's MaximumConcurrency 8"
        in (problems[0])
    )
    enough = load_settings(overrides=_reserved(IngestFunction=10), use_files=False)
    assert check_model(build_model(enough, ACCOUNT, REGION)) == []
    # Functions no SQS mapping feeds may reserve any amount.
    assert (
        check_model(
            build_model(
                load_settings(overrides=_reserved(BookingApiFunction=1), use_files=False), ACCOUNT, REGION
            )
        )
        == []
    )
