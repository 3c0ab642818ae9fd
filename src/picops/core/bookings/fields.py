"""The checks behind the bookings wire formats (models.py), without pydantic.

A Lambda that imports pydantic pays for it on every cold start, while a booking is five flat fields. These
checks decide exactly as the pydantic models they replace did and word each problem with pydantic's text,
so the API's 400 bodies stay byte for byte what clients already parse (docs/bookings.md, "Validation";
tests/unit/test_booking_fields.py holds them to the pydantic models). Each check returns the value it
accepts or raises FieldError with that text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Check = Callable[[object], Any]
MISSING = "Field required"
EXTRA = "Extra inputs are not permitted"
NOT_TEXT = "Input should be a valid string"
NOT_INT = "Input should be a valid integer"
# pydantic-core trims Rust's notion of whitespace (Unicode White_Space) before parsing an integer;
# Python's str.strip() also strips the separators \x1c-\x1f, which pydantic refuses.
RUST_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_INT_TEXT = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*(?:\.0+)?")
_TOO_BIG = "Unable to parse input string as an integer, exceeded maximum size"
_INT_TEXT_MAX = 4300  # Python's own limit on int(str) digits, which pydantic-core enforces too


class FieldError(ValueError):
    """One field's problem, worded as pydantic words it."""


@dataclass(frozen=True)
class Text:
    """A string of `min_length`..`max_length` characters matching `pattern` (whole string), when given."""

    min_length: int
    max_length: int
    pattern: str | None = None

    def __call__(self, value: object) -> str:
        if not isinstance(value, str):
            raise FieldError(NOT_TEXT)
        _unicode(value)
        if len(value) < self.min_length:
            plural = "" if self.min_length == 1 else "s"
            raise FieldError(f"String should have at least {self.min_length} character{plural}")
        if len(value) > self.max_length:
            plural = "" if self.max_length == 1 else "s"
            raise FieldError(f"String should have at most {self.max_length} character{plural}")
        # fullmatch: the pattern's `$` must not accept a trailing newline (pydantic's regex engine does not)
        if self.pattern is not None and not re.fullmatch(self.pattern.strip("^$"), value):
            raise FieldError(f"String should match pattern '{self.pattern}'")
        return value


@dataclass(frozen=True)
class Int:
    """An integer in `ge`..`le`. `strict`: an int and nothing else (no bool, float or numeric string);
    otherwise what pydantic's lax mode converts: a bool, a float without a fraction, an integer's text."""

    ge: int | None = None
    le: int | None = None
    strict: bool = True

    def __call__(self, value: object) -> int:
        number = _strict_int(value) if self.strict else _lax_int(value)
        if self.ge is not None and number < self.ge:
            raise FieldError(f"Input should be greater than or equal to {self.ge}")
        if self.le is not None and number > self.le:
            raise FieldError(f"Input should be less than or equal to {self.le}")
        return number


def _strict_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(NOT_INT)
    return value


def _lax_int(value: object) -> int:
    if isinstance(value, int):  # bool included: lax mode takes True as 1
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FieldError("Input should be a finite number")
        if not value.is_integer():
            raise FieldError(f"{NOT_INT}, got a number with a fractional part")
        if not -(2**63) < value < 2**63:  # pydantic-core converts floats through a 64-bit integer
            raise FieldError(_TOO_BIG)
        return int(value)
    if isinstance(value, str):
        _unicode(value)
        text = value.strip(RUST_WHITESPACE)
        if len(text) > _INT_TEXT_MAX:
            raise FieldError(_TOO_BIG)
        if not _INT_TEXT.fullmatch(text):
            raise FieldError(f"{NOT_INT}, unable to parse string as an integer")
        return int(text.partition(".")[0])
    raise FieldError(NOT_INT)


def _unicode(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which JSON's \ud800 escapes can carry
        raise FieldError(f"{NOT_TEXT}, unable to parse raw data as a unicode string") from None


def optional(check: Check) -> Check:
    """`check`, with None accepted as None."""
    return lambda value: None if value is None else check(value)


def validate(
    data: Mapping[str, object],
    checks: Mapping[str, Check],
    *,
    defaults: Mapping[str, object],
    forbid_extra: bool,
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The checked values and the problems (`{"field", "error"}`), in pydantic's order: each declared
    field in turn, then each unknown key in the order it came."""
    values: dict[str, Any] = {}
    problems: list[dict[str, str]] = []
    for name, check in checks.items():
        if name not in data:
            if name in defaults:
                values[name] = defaults[name]
            else:
                problems.append(_problem(name, MISSING))
            continue
        try:
            values[name] = check(data[name])
        except FieldError as exc:
            problems.append(_problem(name, str(exc)))
    if forbid_extra:
        problems += [_problem(key, EXTRA) for key in data if key not in checks]
    return values, problems


def _problem(name: str, error: str) -> dict[str, str]:
    # An empty key names the body, as the API has always reported a problem with no field.
    return {"field": name or "body", "error": error}
