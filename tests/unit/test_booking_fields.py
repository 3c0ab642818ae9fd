"""The bookings wire formats decide and word problems exactly as the pydantic models they replaced.

The pydantic models live on here, in the test, as the oracle: the API's 400 bodies are what clients parse,
so they must not change by a byte (docs/bookings.md, "Validation").
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Annotated, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from picops.core.bookings import fields
from picops.core.bookings.models import (
    MAX_BODY_BYTES,
    MAX_JSON_DEPTH,
    BookingMessage,
    BookingRequest,
    InvalidRequest,
    is_id,
    json_depth,
    parse_request,
)

IdText = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
]
TokenText = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]


class OracleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    event_id: IdText
    seat_id: IdText
    customer_id: IdText
    payment_token: TokenText
    amount: int | None = Field(default=None, ge=1, le=100_000_000)


class OracleMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    booking_id: Annotated[str, StringConstraints(min_length=26, max_length=26)]
    event_id: IdText
    seat_id: IdText
    position: int = Field(ge=1)


def oracle(model: type[BaseModel], data: object) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    try:
        return model.model_validate(data).model_dump(), []
    except ValidationError as exc:
        loc = lambda e: ".".join(str(p) for p in e["loc"]) or "body"  # noqa: E731
        return None, [{"field": loc(e), "error": e["msg"]} for e in exc.errors()]


REQUEST_FIELDS = ("event_id", "seat_id", "customer_id", "payment_token", "amount")
MESSAGE_FIELDS = ("booking_id", "event_id", "seat_id", "position")
ID_CHARS = "AZaz09_.:-"

good_ids = st.text(alphabet=st.sampled_from("Aa0Zz9_.:-"), min_size=0, max_size=70)
odd_text = st.one_of(
    good_ids,
    st.text(max_size=70),  # any charset: #, /, spaces, non-ASCII letters and digits
    st.sampled_from(["a\n", "a#b", "-a", ".a", "a b", "é", "\ud800", "A" * 64, "A" * 65, "x" * 129]),
    st.text(alphabet=st.sampled_from("ab"), min_size=26, max_size=26),
)
numbers = st.one_of(
    st.integers(min_value=-5, max_value=5),
    st.integers(min_value=99_999_998, max_value=100_000_002),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1.0, 3.0, 2.5, -0.0, 1e30]),
    st.booleans(),
)
int_texts = st.one_of(
    st.from_regex(r"\A[ \t\n\x1c\x85\xa0\u3000\u200b]?[+-]{0,2}[0-9_]{0,4}(\.[0-9]{0,3})?[ \n\x1f]?\Z"),
    st.sampled_from(["3", " 3 ", "3.0", "3.", "1_0", "+3", "0x10", "\u0663", "1e3", "", "00", "1" * 5000]),
)
nested = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
values = st.one_of(odd_text, numbers, int_texts, nested)


def documents(known: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    """Bodies: each known field present (with any value) or missing, plus unknown keys."""
    present = st.fixed_dictionaries({}, optional=dict.fromkeys(known, values))
    unknown = st.dictionaries(st.sampled_from(["", "zz", "amount ", "Event_id", "a.b"]), values, max_size=3)
    return st.tuples(unknown, present).map(lambda parts: {**parts[0], **parts[1]})


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(documents(REQUEST_FIELDS))
def test_a_request_is_accepted_and_refused_as_pydantic_did_with_the_same_errors(data: dict[str, Any]) -> None:
    expected, expected_errors = oracle(OracleRequest, data)
    assert BookingRequest.problems(data) == expected_errors
    body = json.dumps(data)  # the API's own path, where the JSON text also parses back into `data`
    if len(body) > MAX_BODY_BYTES or json_depth(body) > MAX_JSON_DEPTH:
        return  # refused whole before any field is looked at (tests/functional/test_bookings_handlers.py)
    if expected is None:
        with pytest.raises(InvalidRequest) as caught:
            parse_request(body)
        # the body parses back with the same values unless it carried a NaN or infinity (JSON has none)
        if json.loads(body) == data:
            assert caught.value.errors == expected_errors
    elif json.loads(body) == data:
        assert BookingRequest(**expected) == parse_request(body)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(documents(MESSAGE_FIELDS))
def test_a_message_is_read_as_pydantic_read_it(data: dict[str, Any]) -> None:
    expected, expected_errors = oracle(OracleMessage, data)
    if expected is None:
        described = "; ".join(f"{e['field']}: {e['error']}" for e in expected_errors)
        with pytest.raises(ValueError, match=re.escape(described)) as caught:
            BookingMessage.from_data(data)
        assert str(caught.value) == described
    else:
        assert BookingMessage.from_data(data).as_dict() == expected


@pytest.mark.parametrize("data", [[], [1], "x", 5, None])
def test_a_message_that_is_not_an_object_is_refused(data: object) -> None:
    assert oracle(OracleMessage, data)[0] is None
    with pytest.raises(ValueError, match="Input should be a valid dictionary"):
        BookingMessage.from_data(data)


def test_a_request_made_in_code_is_checked_like_one_from_the_api() -> None:
    # Ids end up in table keys: no code path may build a request pydantic would have refused.
    with pytest.raises(InvalidRequest) as caught:
        BookingRequest(event_id="a#b", seat_id="S1", customer_id="c", payment_token="t", amount=0)
    assert [e["field"] for e in caught.value.errors] == ["event_id", "amount"]
    with pytest.raises(ValueError, match="position"):
        BookingMessage(booking_id="B" * 26, event_id="e", seat_id="s", position=0)


@given(st.text(max_size=70) | good_ids)
def test_is_id_agrees_with_the_id_constraint(value: str) -> None:
    assert is_id(value) == (oracle(OracleMessage, _message_with(event_id=value))[0] is not None)


def _message_with(**changes: object) -> dict[str, object]:
    return {"booking_id": "B" * 26, "event_id": "e", "seat_id": "s", "position": 1, **changes}


def test_whitespace_trimmed_from_an_integers_text_is_unicodes_not_pythons() -> None:
    python_only = {chr(c) for c in range(0x1C, 0x20)}
    spaces = {chr(c) for c in range(0x110000) if chr(c).isspace()} - python_only
    assert set(fields.RUST_WHITESPACE) == spaces
    assert all(unicodedata.category(c) != "Cs" for c in spaces)


def test_book_refuses_a_bad_request_before_sending_it_with_the_apis_words(cli: Any) -> None:
    base = ["bookings", "book", "--seat", "S1", "--customer", "c", "--api-url", "http://127.0.0.1:9"]
    result = cli(*base, "--event", "a#b", "--token", "t", "--amount", "0", "--dry-run")
    assert result.exit_code == 2
    pattern = "String should match pattern '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'"
    assert f"event_id: {pattern}; amount: Input should be greater than or equal to 1" in result.stderr
    accepted = cli(*base, "--event", "gala", "--token", "tok", "--dry-run", "--json")
    assert accepted.exit_code == 0, accepted.stderr
    assert accepted.json()["request"]["event_id"] == "gala"


def test_inspect_refuses_an_id_no_table_key_may_carry(cli: Any) -> None:
    result = cli("bookings", "inspect", "--event", "gala#x")
    assert result.exit_code == 2
    assert "'gala#x': 1-64 letters, digits and _.:- characters" in result.stderr
