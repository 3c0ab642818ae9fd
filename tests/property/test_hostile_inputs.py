"""Hostile uploads and API requests through the real handlers on in-process moto (docs/ingest.md, "Failure
policy"; docs/bookings.md, limits): every ingest message is acknowledged within its retries and its job ends
PROCESSED or FAILED with a reason and one notification; the booking API answers every client input below 500.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import ingest_support as ins
from tests.bookings_support import API_CONTEXT, Harness, post_event

MAX_RECEIVES = 5  # [ingest] max_receive_count's default: the deliveries before IngestDLQ
HOSTILE = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- strategies ------------------------------------------------------------------------------------------

_key_chars = st.one_of(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]),
    st.sampled_from(["\t", " ", "+", "%2B", "%", "é", "e\u0301", "/", "#", "写真", "📷"]),
)


@st.composite
def object_keys(draw: st.DrawFn, suffix: str) -> str:
    """Keys under the ingest prefix with spaces, `+`, `%2B`, unicode (NFC and NFD), tabs, up to S3's
    1,024 bytes."""
    name = draw(st.lists(_key_chars, max_size=40).map("".join))
    segments = [s for s in name.split("/") if s not in (".", "..")]
    key = f"incoming/{uuid.uuid4().hex[:8]}/" + "/".join(segments)
    if draw(st.booleans()):
        pad = draw(st.sampled_from(["k", "é", "写"]))
        room = 1024 - len(key.encode()) - len(suffix.encode())
        key += pad * max(0, room // len(pad.encode()))
    return key + suffix


def _nested(depth: int, opener: str) -> bytes:
    if opener == "[":
        return ("[" * depth + "]" * depth).encode()
    return ('{"a":' * depth + "1" + "}" * depth).encode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)
records = st.dictionaries(
    st.sampled_from(["id", "pk", "sk", "picops_source", "", "name", "n"]) | st.text(max_size=6),
    json_values
    | st.tuples(st.integers(2040, 2060), st.sampled_from(["x", "é"])).map(lambda n_c: n_c[1] * n_c[0]),
    max_size=5,
)
drops = st.one_of(
    st.lists(records, max_size=4).map(lambda r: json.dumps(r).encode()),
    records.map(lambda r: json.dumps(r).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(_nested, st.integers(1, 3000), st.sampled_from(["[", "{"])),
    st.binary(max_size=64),
)
images = st.one_of(
    st.binary(max_size=256),
    st.just(ins.jpeg(48, 32)).flatmap(lambda data: st.integers(0, len(data)).map(lambda n: data[:n])),
    st.just(ins.png_header_only(20_000, 20_000)),
    st.just(ins.webp(40, 30)),
)
uploads = st.one_of(
    st.tuples(object_keys(".json"), drops),
    st.tuples(object_keys(".jpg"), images),
)

# -- ingest ----------------------------------------------------------------------------------------------


@pytest.fixture
def ingest(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, ins.IngestStack]]:
    from picops.aws import lambda_factory
    from picops.handlers import _env
    from picops.handlers import ingest as module

    monkeypatch.setenv("AWS_REGION", ins.REGION)
    lambda_factory.cache_clear()
    _env.reset()
    yield module, ins.create_stack(aws)
    lambda_factory.cache_clear()
    _env.reset()


@HOSTILE
@given(upload=uploads)
def test_every_hostile_upload_ends_processed_or_failed_with_a_reason_within_its_retries(
    ingest: tuple[Any, ins.IngestStack], aws: Any, upload: tuple[str, bytes]
) -> None:
    module, stack = ingest
    key, body = upload
    event = ins.event_for([ins.put(aws, stack, key, body)], stack)
    for _ in range(MAX_RECEIVES):
        response = module.handler(event, ins.FakeContext())
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        event = {"Records": [r for r in event["Records"] if r["messageId"] in failed]}
        if not failed:
            break
    assert event["Records"] == [], f"{key!r} would reach IngestDLQ"
    (job,) = ins.job_items(aws, stack, key)
    assert job["status"] in ("PROCESSED", "FAILED"), job
    if job["status"] == "FAILED":
        assert job["reason"], job
    notes = ins.notifications(aws, stack)
    assert [(n["body"]["key"], n["body"]["status"]) for n in notes] == [(key, job["status"].lower())]


# -- the booking API -------------------------------------------------------------------------------------


def _deep(depth: int, opener: str) -> str:
    return _nested(depth, opener).decode()


booking_fields = st.fixed_dictionaries(
    {},
    optional={
        "event_id": json_values | st.text(max_size=80),
        "seat_id": json_values | st.text(max_size=80),
        "customer_id": json_values | st.text(max_size=80),
        "payment_token": json_values | st.sampled_from(["tok_visa", "tok_decline_card"]),
        "amount": json_values | st.sampled_from([True, "12", 12.5, -1, 0, 10**30]),
        "currency": json_values,
        "extra": json_values,
    },
)
bodies = st.one_of(
    booking_fields.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.builds(_deep, st.integers(1, 20_000), st.sampled_from(["[", "{"])),
    st.tuples(st.integers(16_000, 20_000), st.sampled_from(["x", "é", "写"])).map(
        lambda n_c: json.dumps({"event_id": n_c[1] * n_c[0]}, ensure_ascii=False)
    ),
)


@st.composite
def api_events(draw: st.DrawFn) -> dict[str, Any]:
    event = post_event(None, raw=draw(bodies))
    if draw(st.booleans()):
        raw = draw(st.binary(max_size=64)) if draw(st.booleans()) else event["body"].encode()
        event["body"] = base64.b64encode(raw).decode() if draw(st.booleans()) else "%%not base64%%"
        event["isBase64Encoded"] = True
    method = draw(st.sampled_from(["POST", "GET", "PUT", "DELETE", "PATCH", "post"]))
    event["requestContext"]["http"]["method"] = method
    path = draw(st.sampled_from(["/bookings", "/bookings/", "/bookings/x", "/bookings/../x", "/", "/nope"]))
    if path != "/bookings":
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        event["routeKey"] = "$default"
    return event


@pytest.fixture
def api(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    harness = Harness(aws, monkeypatch)
    yield harness
    harness.close()


@settings(HOSTILE, max_examples=60)
@given(event=api_events())
def test_no_client_input_gets_a_5xx_from_the_booking_api(api: Harness, event: dict[str, Any]) -> None:
    response = api.h.api_handler(event, API_CONTEXT)
    assert 200 <= response["statusCode"] < 500, (response, event.get("body", "")[:200])
    assert isinstance(json.loads(response["body"]), dict)
