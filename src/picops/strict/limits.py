"""Request values checked as AWS checks them, before a request reaches a local endpoint.

botocore's own client-side validation checks types and required members only; moto checks little more. AWS
refuses values outside each member's documented range, so a request that only an emulator accepts fails here
the way it would fail on AWS: the service model's constraints (string and list lengths, numeric ranges,
enums, patterns where the model keeps them) plus a short table of limits AWS enforces that the model does not
state (`SEMANTIC_RULES`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import botocore.exceptions

# A violation is answered with the code the service uses for a bad parameter.
ERROR_CODES = {
    "sqs": "InvalidParameterValue",
    "sns": "InvalidParameter",
    "lambda": "InvalidParameterValueException",
    "logs": "InvalidParameterException",
    "s3": "InvalidArgument",
    "events": "ValidationException",
}
# SNS FIFO / SQS FIFO: MessageGroupId and MessageDeduplicationId are 1-128 of these characters.
FIFO_ID = re.compile(r"[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}\Z")
# The only values CloudWatch Logs' PutRetentionPolicy accepts.
RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)


class LimitExceeded(ValueError):
    """One value AWS would refuse; `member` is its path in the request (`Entries[3].MessageGroupId`)."""

    def __init__(self, member: str, message: str) -> None:
        super().__init__(f"{member}: {message}")
        self.member = member


def check_request(operation_model: Any, params: dict[str, Any]) -> None:
    """Raise botocore's ClientError, shaped as the service answers, for the first value AWS would refuse."""
    try:
        if operation_model.input_shape is not None:
            _check_shape(operation_model.input_shape, params, "")
        rule = SEMANTIC_RULES.get((operation_model.service_model.service_name, operation_model.name))
        if rule is not None:
            rule(params)
    except LimitExceeded as exc:
        service = operation_model.service_model.service_name
        code = ERROR_CODES.get(service, "ValidationException")
        response: Any = {
            "Error": {"Code": code, "Message": f"{exc} (strict local mode)"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        raise botocore.exceptions.ClientError(response, operation_model.name) from None


def _check_shape(shape: Any, value: Any, path: str) -> None:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                _check_shape(member, value[name], f"{path}.{name}" if path else name)
    elif kind == "list" and isinstance(value, list | tuple):
        _length(shape, len(value), path, "items")
        for i, item in enumerate(value):
            _check_shape(shape.member, item, f"{path}[{i}]")
    elif kind == "map" and isinstance(value, dict):
        _length(shape, len(value), path, "entries")
        for key, item in value.items():
            _check_shape(shape.key, key, f"{path}.<key>")
            _check_shape(shape.value, item, f"{path}[{key!r}]")
    elif kind == "string" and isinstance(value, str):
        _string(shape, value, path)
    elif kind in ("integer", "long") and isinstance(value, int) and not isinstance(value, bool):
        _range(shape, value, path)


def _length(shape: Any, size: int, path: str, unit: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        raise LimitExceeded(path, f"has {size} {unit}; at least {low} required")
    if high is not None and size > high:
        raise LimitExceeded(path, f"has {size} {unit}; at most {high} allowed")


def _string(shape: Any, value: str, path: str) -> None:
    _length(shape, len(value), path, "characters")
    enum = shape.enum
    if enum and value not in enum:
        raise LimitExceeded(path, f"{value!r} is not one of {', '.join(enum)}")
    pattern = shape.metadata.get("pattern")
    if pattern and _compiled(pattern) is not None and not _compiled(pattern).fullmatch(value):  # type: ignore[union-attr]
        raise LimitExceeded(path, f"{value[:60]!r} does not match the pattern {pattern}")


_PATTERNS: dict[str, re.Pattern[str] | None] = {}


def _compiled(pattern: str) -> re.Pattern[str] | None:
    # Service models use Java regular expressions; the few Python cannot read are not checked.
    if pattern not in _PATTERNS:
        try:
            _PATTERNS[pattern] = re.compile(pattern)
        except re.error:
            _PATTERNS[pattern] = None
    return _PATTERNS[pattern]


def _range(shape: Any, value: int, path: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        raise LimitExceeded(path, f"is {value}; the minimum is {low}")
    if high is not None and value > high:
        raise LimitExceeded(path, f"is {value}; the maximum is {high}")


# -- limits the service models do not state ---------------------------------------------------------------


def _fifo_ids(params: dict[str, Any], prefix: str = "") -> None:
    for member in ("MessageGroupId", "MessageDeduplicationId"):
        value = params.get(member)
        if value is not None and not FIFO_ID.fullmatch(str(value)):
            raise LimitExceeded(
                f"{prefix}{member}",
                f"must be 1-128 letters, digits or punctuation (got {len(str(value))} characters)",
            )


def _fifo_batch(params: dict[str, Any]) -> None:
    entries = params.get("Entries") or params.get("PublishBatchRequestEntries") or []
    if len(entries) > 10:
        raise LimitExceeded("Entries", f"has {len(entries)} entries; a batch holds at most 10")
    for i, entry in enumerate(entries):
        _fifo_ids(entry, f"Entries[{i}].")


def _retention(params: dict[str, Any]) -> None:
    days = params.get("retentionInDays")
    if days not in RETENTION_DAYS:
        allowed = ", ".join(str(d) for d in sorted(RETENTION_DAYS))
        raise LimitExceeded("retentionInDays", f"{days} is not one of {allowed}")


def _fifo_mapping(params: dict[str, Any]) -> None:
    source = str(params.get("EventSourceArn") or "")
    if source.endswith(".fifo") and params.get("MaximumBatchingWindowInSeconds"):
        raise LimitExceeded("MaximumBatchingWindowInSeconds", "FIFO queues take no batching window")


def _batch_write(params: dict[str, Any]) -> None:
    count = sum(len(requests) for requests in (params.get("RequestItems") or {}).values())
    if count > 25:
        raise LimitExceeded("RequestItems", f"holds {count} requests; BatchWriteItem takes at most 25")


def _batch_get(params: dict[str, Any]) -> None:
    count = sum(len(spec.get("Keys", [])) for spec in (params.get("RequestItems") or {}).values())
    if count > 100:
        raise LimitExceeded("RequestItems", f"holds {count} keys; BatchGetItem takes at most 100")


def _tags(params: dict[str, Any]) -> None:
    tags = (params.get("Tagging") or {}).get("TagSet") or []
    if len(tags) > 10:
        raise LimitExceeded("Tagging.TagSet", f"has {len(tags)} tags; an object takes at most 10")
    for i, tag in enumerate(tags):
        if not 1 <= len(str(tag.get("Key", ""))) <= 128:
            raise LimitExceeded(f"Tagging.TagSet[{i}].Key", "must be 1-128 characters")
        if len(str(tag.get("Value", ""))) > 256:
            raise LimitExceeded(f"Tagging.TagSet[{i}].Value", "must be at most 256 characters")


SEMANTIC_RULES: dict[tuple[str, str], Callable[[dict[str, Any]], None]] = {
    ("sns", "Publish"): _fifo_ids,
    ("sns", "PublishBatch"): _fifo_batch,
    ("sqs", "SendMessage"): _fifo_ids,
    ("sqs", "SendMessageBatch"): _fifo_batch,
    ("logs", "PutRetentionPolicy"): _retention,
    ("lambda", "CreateEventSourceMapping"): _fifo_mapping,
    ("lambda", "UpdateEventSourceMapping"): _fifo_mapping,
    ("dynamodb", "BatchWriteItem"): _batch_write,
    ("dynamodb", "BatchGetItem"): _batch_get,
    ("s3", "PutObjectTagging"): _tags,
}

__all__ = ["LimitExceeded", "check_request"]
