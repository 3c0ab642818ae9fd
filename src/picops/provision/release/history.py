"""The release history: one record per change of a function's alias `live` (deploy or rollback).

Each record is a tag on the function itself (`picops:release:<UTC time>` = `version=3 previous=2
strategy=canary10-5m outcome=succeeded by=<caller ARN>`). A tag, rather than a table or an object, because
anyone who can deploy the function can read it with the same Lambda permissions, on AWS and on the local
endpoint alike; it needs no resource of its own that could be missing or drift; and it goes when the
function goes. A function holds at most 50 tags, so the newest KEEP records stay and older ones are removed.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

PREFIX = "picops:release:"
KEEP = 20
# What a Lambda tag value may hold (letters, digits, spaces and `_ . : / = + - @`), up to 256 characters.
_NOT_TAG = re.compile(r"[^\w .:/=+\-@]")
_VALUE_LIMIT = 256


@dataclass(frozen=True)
class Record:
    """One change of alias `live`: the version it moved to, from which, when, by whom, how, and how it ended
    (in-progress, succeeded, rolled-back, stopped, failed)."""

    function: str
    version: str
    previous: str | None
    at: str  # ISO 8601 UTC, to the millisecond
    by: str
    strategy: str
    outcome: str
    alarm: str | None = None  # the alarm that rolled it back
    # The CodeDeploy deployment running the shift on AWS: a record still in progress is resolved against it
    # when read (`--no-wait` returns before the shift ends).
    deployment: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "version": self.version,
            "previous_version": self.previous,
            "at": self.at,
            "by": self.by,
            "strategy": self.strategy,
            "outcome": self.outcome,
            "alarm": self.alarm,
            "deployment": self.deployment,
        }

    def tag(self) -> tuple[str, str]:
        values = {
            "version": self.version,
            "previous": self.previous,
            # `%` is no tag character: `canary:20%:5min` is kept as `canary:20pct:5min`.
            "strategy": self.strategy.replace("%", "pct"),
            "outcome": self.outcome,
            "alarm": self.alarm,
            "deployment": self.deployment,
        }
        head = " ".join(f"{k}={_NOT_TAG.sub('_', v)}" for k, v in values.items() if v)
        by = _NOT_TAG.sub("_", self.by)[: max(0, _VALUE_LIMIT - len(head) - 4)]
        return PREFIX + self.at, f"{head} by={by}"


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def caller(factory: Any) -> str:
    """Who is deploying: the STS caller's ARN (GetCallerIdentity needs no permission)."""
    return str(factory.client("sts").get_caller_identity()["Arn"])


def parse(function: str, key: str, value: str) -> Record | None:
    if not key.startswith(PREFIX):
        return None
    fields = dict(part.split("=", 1) for part in value.split(" ") if "=" in part)
    if "version" not in fields:
        return None
    return Record(
        function=function,
        version=fields["version"],
        previous=fields.get("previous"),
        at=key[len(PREFIX) :],
        by=fields.get("by", ""),
        strategy=re.sub(r"(\d)pct", r"\1%", fields.get("strategy", "")),
        outcome=fields.get("outcome", ""),
        alarm=fields.get("alarm"),
        deployment=fields.get("deployment"),
    )


def read(lam: Any, function: str, arn: str) -> list[Record]:
    """`function`'s records, oldest first."""
    tags = lam.list_tags(Resource=arn).get("Tags") or {}
    records = [parse(function, key, value) for key, value in tags.items()]
    return sorted((r for r in records if r is not None), key=lambda r: r.at)


def write(lam: Any, arn: str, record: Record) -> None:
    """Add (or, for the same `at`, replace) `record`, then drop all but the newest KEEP records."""
    key, value = record.tag()
    lam.tag_resource(Resource=arn, Tags={key: value})
    keys = sorted(k for k in (lam.list_tags(Resource=arn).get("Tags") or {}) if k.startswith(PREFIX))
    if len(keys) > KEEP:
        lam.untag_resource(Resource=arn, TagKeys=keys[: len(keys) - KEEP])
