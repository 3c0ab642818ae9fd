"""A handler's container state (picops.handlers._env): built once on first use, rebuilt only by what makes a
new container (reset) or a new client factory; and the bookings API's routing through Powertools."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from picops.aws import lambda_factory
from picops.handlers import _env
from tests.bookings_support import get_event, post_event


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    _env.reset()
    yield
    _env.reset()


class Context:
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:picops-booking-api"


def test_settings_are_read_once_per_container(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICOPS_STACK__NAME", "first")
    assert _env.settings().stack.name == "first"
    monkeypatch.setenv("PICOPS_STACK__NAME", "second")
    assert _env.settings() is _env.settings()
    assert _env.settings().stack.name == "first"  # a warm container keeps what it read
    _env.reset()
    assert _env.settings().stack.name == "second"


def test_built_objects_are_kept_until_reset_or_a_new_factory() -> None:
    builds: list[int] = []

    def build() -> object:
        builds.append(1)
        return object()

    first = _env.once("thing", build)
    assert _env.once("thing", build) is first
    assert len(builds) == 1
    # The local runtime swapping its request guard drops the factory: clients made before must not survive.
    lambda_factory.cache_clear()
    assert _env.once("thing", build) is not first
    _env.reset()
    _env.once("thing", build)
    assert len(builds) == 3


def test_account_comes_from_the_invoked_arn_and_names_from_settings() -> None:
    assert _env.account(Context()) == "123456789012"
    names = _env.names("123456789012")
    assert names is _env.names("123456789012")
    assert names.physical("BookingsTable") == f"{_env.settings().stack.name}-bookings"


def _call(event: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    from picops.handlers import bookings

    response = bookings.api_handler(event, Context())
    headers = {k.lower(): v for k, v in response["headers"].items()}
    return response["statusCode"], headers, json.loads(response["body"])


def test_invoked_directly_another_method_on_a_known_path_is_405_with_allow() -> None:
    event = get_event("01HRZ8M2Q3W4E5R6T7Y8V9A0BP")
    event["requestContext"]["http"]["method"] = "PUT"
    status, headers, body = _call(event)
    assert (status, headers["allow"], headers["content-type"]) == (405, "GET", "application/json")
    assert body == {"message": "PUT not allowed on /bookings/{id}"}
    post = post_event({})
    post["requestContext"]["http"]["method"] = "GET"
    post["routeKey"] = "$default"
    assert _call(post)[:2] == (405, {"allow": "POST", "content-type": "application/json"})


def test_an_unknown_path_is_404_naming_it() -> None:
    event = post_event({})
    event["routeKey"] = "$default"
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/bookings/a/b"
    assert _call(event)[0::2] == (404, {"message": "no route '/bookings/a/b'"})


def test_a_named_stage_prefix_routes_by_the_matched_route() -> None:
    event = get_event("not-an-id")
    event["rawPath"] = "/prod/bookings/not-an-id"
    status, _, body = _call(event)
    # Routed to GET /bookings/{id} (a 400 for the id), not a 404 for /prod/...
    assert status == 400
    assert body["errors"][0]["field"] == "id"
