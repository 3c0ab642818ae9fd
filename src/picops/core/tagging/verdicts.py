"""Verdict lookup: BatchGetItem in batches of 100 keys before any S3 request.

BatchGetItem may return part of a batch as `UnprocessedKeys` (throttling, the 16 MB response cap); those are
retried with exponential backoff and jitter. This is the one hand-rolled retry loop: botocore retries failed
requests, not partially successful ones.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from typing import Any

import botocore.exceptions

from picops.aws_errors import code_of, message_of
from picops.errors import AwsError, ConfigError, input_field

BATCH_SIZE = 100
MAX_UNPROCESSED_ROUNDS = 10


class VerdictLookup:
    """Maps object keys to verdict strings (None = no verdict yet) from ModerationTable."""

    def __init__(
        self,
        dynamodb: Any,
        table: str,
        *,
        key_attribute: str,
        status_attribute: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.key_attribute = key_attribute
        self.status_attribute = status_attribute
        self._sleep = sleep

    def lookup(self, keys: Iterable[str]) -> dict[str, str | None]:
        """Verdicts for `keys` (any number; duplicates are fine). A non-string verdict maps to its repr so
        the engine can fail that object with a reason instead of dropping it."""
        unique = list(dict.fromkeys(keys))
        found: dict[str, str | None] = dict.fromkeys(unique)
        for start in range(0, len(unique), BATCH_SIZE):
            self._lookup_batch(unique[start : start + BATCH_SIZE], found)
        return found

    def _lookup_batch(self, keys: list[str], found: dict[str, str | None]) -> None:
        # Projection keeps responses small; attribute names go through placeholders (reserved words).
        request: dict[str, Any] = {
            self.table: {
                "Keys": [{self.key_attribute: {"S": key}} for key in keys],
                "ProjectionExpression": "#k, #s",
                "ExpressionAttributeNames": {"#k": self.key_attribute, "#s": self.status_attribute},
                "ConsistentRead": False,
            }
        }
        for attempt in range(MAX_UNPROCESSED_ROUNDS + 1):
            try:
                response = self.dynamodb.batch_get_item(RequestItems=request)
            except botocore.exceptions.ClientError as exc:
                if code_of(exc) == "ValidationException":
                    # The usual cause is configuration, not data: say which setting to check.
                    raise ConfigError(
                        f"{self.table} rejected the verdict lookup: {message_of(exc)}",
                        hint=f"[moderation] key_attribute ({self.key_attribute!r}) must be the table's "
                        "partition key, of type string",
                    ) from None
                raise
            for item in response.get("Responses", {}).get(self.table, []):
                key = _string(item.get(self.key_attribute))
                if key is not None and key in found:
                    found[key] = _verdict(item.get(self.status_attribute))
            unprocessed = response.get("UnprocessedKeys") or {}
            if not unprocessed.get(self.table, {}).get("Keys"):
                return
            request = unprocessed
            if attempt < MAX_UNPROCESSED_ROUNDS:
                # Full jitter, capped: 50 ms, 100 ms, ... up to 5 s.
                self._sleep(random.uniform(0, min(5.0, 0.05 * 2**attempt)))
        raise AwsError(
            f"BatchGetItem on {self.table} still had unprocessed keys after {MAX_UNPROCESSED_ROUNDS} retries",
            hint=f"the table is throttled; lower {input_field('concurrency')} or raise its read capacity",
        )


def _string(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("S"), str):
        return str(value["S"])
    return None


def _verdict(value: Any) -> str | None:
    """The verdict as a string. Present but not a string (a number, a map) is kept, visibly wrong, so the
    object fails with a reason."""
    if value is None:
        return None
    text = _string(value)
    if text is not None:
        return text
    if isinstance(value, dict) and value.get("NULL") is True:
        return None
    return f"<non-string verdict {value!r}>"
