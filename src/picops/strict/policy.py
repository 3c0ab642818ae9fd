"""IAM identity-policy evaluation, as AWS does it for one principal: an explicit Deny wins, else an Allow is
needed, else the request is implicitly denied.

Covered: Action/NotAction and Resource/NotResource with `*` and `?` wildcards (actions case-insensitively,
as AWS compares them), and the condition operators picops's own policies use (String*, Arn*, their
ForAllValues:/ForAnyValue: set forms and `...IfExists`, Bool, Null). A condition key the request does not
carry makes its condition false (or true for IfExists and for ForAllValues over no values), as in AWS. Not
covered (docs/security.md): resource policies, SCPs, permission boundaries, session policies.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class Decision(enum.Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True)
class Check:
    """One (action, resource) to authorise, with the condition keys the request carries."""

    action: str
    resource: str
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)


def evaluate(policies: Iterable[Mapping[str, Any]], check: Check) -> Decision:
    allowed = False
    for policy in policies:
        for statement in _statements(policy):
            if not _applies(statement, check):
                continue
            if statement.get("Effect") == "Deny":
                return Decision.EXPLICIT_DENY
            allowed = allowed or statement.get("Effect") == "Allow"
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def _statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = policy.get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _applies(statement: Mapping[str, Any], check: Check) -> bool:
    if "Action" in statement:
        if not any(_match(p, check.action, fold=True) for p in _listed(statement["Action"])):
            return False
    elif any(_match(p, check.action, fold=True) for p in _listed(statement.get("NotAction"))):
        return False
    if "Resource" in statement:
        if not any(_match(p, check.resource) for p in _listed(statement["Resource"])):
            return False
    elif any(_match(p, check.resource) for p in _listed(statement.get("NotResource"))):
        return False
    return all(
        _condition(operator, key, _listed(values), check.context)
        for operator, block in (statement.get("Condition") or {}).items()
        for key, values in block.items()
    )


@functools.lru_cache(maxsize=4096)
def _pattern(pattern: str, fold: bool) -> re.Pattern[str]:
    # IAM wildcards: `*` any run of characters (`/` and `:` included), `?` exactly one.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex + r"\Z", re.IGNORECASE if fold else 0)


def _match(pattern: str, value: str, *, fold: bool = False) -> bool:
    return _pattern(pattern, fold).match(value) is not None


def _condition(operator: str, key: str, expected: list[str], context: Mapping[str, Sequence[str]]) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    present = _context_value(key, context)
    if base == "Null":
        return (present is None) == (expected[0].lower() == "true")
    if present is None:
        # Absent key: false, except IfExists (true) and ForAllValues over the empty set (vacuously true).
        return if_exists or qualifier == "ForAllValues"
    test = _OPERATORS.get(base)
    if test is None:
        raise ValueError(f"condition operator {operator} is not supported by strict mode")
    if qualifier == "ForAllValues":
        return all(any(test(v, e) for e in expected) for v in present)
    if qualifier == "ForAnyValue":
        return any(test(v, e) for v in present for e in expected)
    negated = base.startswith(("StringNot", "ArnNot"))
    if negated:
        return all(test(v, e) for v in present for e in expected)
    return any(test(v, e) for v in present for e in expected)


def _context_value(key: str, context: Mapping[str, Sequence[str]]) -> list[str] | None:
    for name, values in context.items():
        if name.lower() == key.lower():  # condition keys are case-insensitive
            return list(values)
    return None


_OPERATORS: dict[str, Any] = {
    "StringEquals": lambda v, e: v == e,
    "StringNotEquals": lambda v, e: v != e,
    "StringEqualsIgnoreCase": lambda v, e: v.lower() == e.lower(),
    "StringNotEqualsIgnoreCase": lambda v, e: v.lower() != e.lower(),
    "StringLike": lambda v, e: _match(e, v),
    "StringNotLike": lambda v, e: not _match(e, v),
    "ArnEquals": lambda v, e: v == e,
    "ArnLike": lambda v, e: _match(e, v),
    "ArnNotEquals": lambda v, e: v != e,
    "ArnNotLike": lambda v, e: not _match(e, v),
    "Bool": lambda v, e: v.lower() == e.lower(),
}

__all__ = ["Check", "Decision", "evaluate"]
