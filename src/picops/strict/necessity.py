"""Least privilege proven from what was used: each grant of a policy is removed in turn and the checks a
recording kept (strict/guard.py `recording`) are evaluated again; a grant is necessary when some check
that was allowed is then refused. A grant nothing refuses without is either unused or used only where the
recording does not reach (the Lambda service's own use of a role), and the caller must say which.

A grant is one action of one statement (a statement naming three actions is three grants), so a statement
that is needed for one action cannot carry two more unnoticed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from picops.strict.policy import Check, Decision, evaluate


@dataclass(frozen=True)
class Grant:
    """One action of one statement: `sid` (or the statement's position) names the statement."""

    document: int
    statement: int
    sid: str
    action: str


@dataclass(frozen=True)
class Verdict:
    grant: Grant
    # A check refused without the grant (the proof), or None when nothing recorded needs it.
    needed_by: Check | None

    @property
    def necessary(self) -> bool:
        return self.needed_by is not None


def grants_of(policies: Sequence[Mapping[str, Any]]) -> list[Grant]:
    out = []
    for d, policy in enumerate(policies):
        for s, statement in enumerate(_statements(policy)):
            if statement.get("Effect") != "Allow" or "Action" not in statement:
                continue  # a Deny or NotAction statement is not a grant to prove
            for action in _listed(statement["Action"]):
                out.append(Grant(d, s, str(statement.get("Sid") or f"#{s}"), action))
    return out


def verdicts(policies: Sequence[Mapping[str, Any]], checks: Iterable[Check]) -> list[Verdict]:
    """Each grant of `policies`, with a recorded check that fails without it (or None)."""
    allowed = [c for c in _unique(checks) if evaluate(policies, c) is Decision.ALLOW]
    out = []
    for grant in grants_of(policies):
        reduced = without(policies, grant)
        relevant = (c for c in allowed if _may_match(grant.action, c.action))
        needed_by = next((c for c in relevant if evaluate(reduced, c) is not Decision.ALLOW), None)
        out.append(Verdict(grant, needed_by))
    return out


def without(policies: Sequence[Mapping[str, Any]], grant: Grant) -> list[Mapping[str, Any]]:
    """`policies` less `grant`: its action dropped (and its statement, if that was the last action)."""
    reduced: list[Mapping[str, Any]] = [copy.deepcopy(dict(p)) for p in policies]
    statements = _statements(reduced[grant.document])
    statement = dict(statements[grant.statement])
    remaining = [a for a in _listed(statement["Action"]) if a != grant.action]
    if remaining:
        statement["Action"] = remaining
        statements[grant.statement] = statement
    else:
        del statements[grant.statement]
    reduced[grant.document] = {**reduced[grant.document], "Statement": statements}
    return reduced


def _may_match(pattern: str, action: str) -> bool:
    # Only a check whose action the grant's pattern could match can depend on it; the rest are skipped.
    return "*" in pattern or "?" in pattern or pattern.lower() == action.lower()


def _statements(policy: Mapping[str, Any]) -> list[Any]:
    statements = policy.get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _unique(checks: Iterable[Check]) -> list[Check]:
    seen: dict[tuple[Any, ...], Check] = {}
    for check in checks:
        key = (check.action, check.resource, tuple(sorted((k, tuple(v)) for k, v in check.context.items())))
        seen.setdefault(key, check)
    return list(seen.values())


__all__ = ["Grant", "Verdict", "grants_of", "verdicts", "without"]
