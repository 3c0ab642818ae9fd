"""JSON drops: an object or a list of objects, each stored as one JobsTable item, all or nothing.

Each record's `pk` is its `id` field (a string or an integer) or, without one, the drop's object key (then
`sk` tells the records of that drop apart by position). Numbers become DynamoDB numbers (Decimal, never
float). The whole drop is validated before anything is written, so a bad record (not an object, over
DynamoDB's 400 KB item limit, an unrepresentable number, a reserved attribute or id) fails the drop with a
reason and writes nothing. Writes go in BatchWriteItem calls of 25; unprocessed items are sent again (the
SDK's retry config handles throttling of whole calls).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import botocore.exceptions
from boto3.dynamodb.types import TypeSerializer

from picops import aws_errors
from picops.core.ingest.jobs import RESERVED_PK_PREFIXES
from picops.core.ingest.limits import PARTITION_KEY_BYTES, utf8_len

ITEM_LIMIT = 400 * 1024
# DynamoDB refuses an item nested deeper than this, the item itself being level 1 (a ValidationException that
# would only be retried). Checked without recursion: a deep enough record would exhaust the stack first.
MAX_DEPTH = 32
_TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep, over DynamoDB's item nesting limit"
BATCH = 25
RECORD_SK = "RECORD"
SOURCE_ATTRIBUTE = "picops_source"
RESERVED_ATTRIBUTES = frozenset({"pk", "sk", SOURCE_ATTRIBUTE})
_MAX_UNPROCESSED_ROUNDS = 8
_serializer = TypeSerializer()


class DropRejected(ValueError):
    """The drop can never be stored (invalid JSON, a bad record, too large)."""


class UnprocessedItems(RuntimeError):
    """DynamoDB kept returning unprocessed items: transient (throttling), worth a retry of the message."""


@dataclass(frozen=True)
class Drop:
    items: tuple[dict[str, Any], ...]  # DynamoDB-typed items, ready for BatchWriteItem

    @property
    def count(self) -> int:
        return len(self.items)


def _reject_constant(name: str) -> Any:
    raise DropRejected(f"invalid JSON: {name} is not a JSON number")


def parse_drop(data: bytes, *, key: str, source: str, max_bytes: int) -> Drop:
    """Validate a whole drop and shape its items. Raises DropRejected with the reason."""
    if len(data) > max_bytes:
        raise DropRejected(f"JSON drop is {len(data):,} bytes, over [ingest] max_json_bytes {max_bytes:,}")
    try:
        text = data.decode("utf-8-sig")
        document = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise DropRejected(f"invalid JSON: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DropRejected(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise DropRejected(f"JSON drop is {_TOO_DEEP}") from None
    records = document if isinstance(document, list) else [document]
    if not records:
        raise DropRejected("JSON drop is an empty list: nothing to store")
    items: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise DropRejected(f"record {index} is a {_json_type(record)}, not an object")
        item = _item(record, index, key, source, many=isinstance(document, list))
        ident = (item["pk"]["S"], item["sk"]["S"])
        if ident in seen:
            raise DropRejected(f"records {seen[ident]} and {index} have the same id {ident[0]!r}")
        seen[ident] = index
        items.append(item)
    return Drop(tuple(items))


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"


def _item(record: dict[str, Any], index: int, key: str, source: str, *, many: bool) -> dict[str, Any]:
    reserved = sorted(RESERVED_ATTRIBUTES & set(record))
    if reserved:
        raise DropRejected(f"record {index} uses reserved attribute(s) {', '.join(reserved)}")
    if any(not name for name in record):
        raise DropRejected(f"record {index} has an empty attribute name")
    ident = record.get("id")
    if ident is None:
        pk, sk = key, f"{RECORD_SK}#{index:06d}" if many else RECORD_SK
    elif isinstance(ident, bool) or not isinstance(ident, str | int | Decimal):
        raise DropRejected(f"record {index}: id must be a string or an integer, not {_json_type(ident)}")
    elif isinstance(ident, Decimal):
        raise DropRejected(f"record {index}: id {ident} is not an integer")
    else:
        pk, sk = str(ident), RECORD_SK
        if not pk:
            raise DropRejected(f"record {index}: id is an empty string")
    pk_bytes = utf8_len(pk)
    if pk_bytes > PARTITION_KEY_BYTES:
        raise DropRejected(
            f"record {index}: id is {pk_bytes:,} bytes, over DynamoDB's {PARTITION_KEY_BYTES:,}-byte "
            "partition key limit"
        )
    if pk.startswith(RESERVED_PK_PREFIXES):
        raise DropRejected(f"record {index}: id {pk!r} starts with a prefix picops reserves")
    if too_deep(record):
        raise DropRejected(f"record {index} is {_TOO_DEEP}")
    try:
        attributes = {name: _serializer.serialize(_numbers(value)) for name, value in record.items()}
    except (TypeError, ValueError, ArithmeticError, RecursionError) as exc:
        raise DropRejected(f"record {index}: a value DynamoDB cannot store ({type(exc).__name__})") from None
    item = {"pk": {"S": pk}, "sk": {"S": sk}, SOURCE_ATTRIBUTE: {"S": source}, **attributes}
    size = item_size(item)
    if size > ITEM_LIMIT:
        raise DropRejected(f"record {index} is {size:,} bytes as a DynamoDB item, over the 400 KB item limit")
    return item


def too_deep(record: dict[str, Any], limit: int = MAX_DEPTH) -> bool:
    """Whether lists and objects nest deeper than `limit` levels, `record` being level 1 (iteratively)."""
    pending: list[tuple[Any, int]] = [(record, 1)]
    while pending:
        value, level = pending.pop()
        if level > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        pending.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return False


def _numbers(value: Any) -> Any:
    """JSON ints to Decimal too (DynamoDB numbers), recursively; the serializer rejects inexact ones."""
    if isinstance(value, bool) or value is None or isinstance(value, str | Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    return value


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size (attribute names plus values, as AWS documents it), rounded up."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        digits = len(str(inner).lstrip("-").replace(".", "").lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in inner.items())
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: v}) for v in inner)
    return len(json.dumps(inner, default=str))


def write_items(
    dynamodb: Any,
    table: str,
    items: Sequence[dict[str, Any]],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """BatchWriteItem in chunks of 25, re-sending unprocessed items with a short backoff; returns calls.

    All or nothing: when a chunk fails for good (an error no retry changes), the chunks already written are
    deleted again before the error is raised, so a FAILED drop leaves no records. A transient error leaves
    them: the retry writes the same items again."""
    try:
        return _write_chunks(dynamodb, table, items, sleep)
    except botocore.exceptions.ClientError as exc:
        if not aws_errors.is_transient(exc):
            _delete_written(dynamodb, table, items[: int(getattr(exc, "picops_written", 0))])
        raise


def _write_chunks(
    dynamodb: Any, table: str, items: Sequence[dict[str, Any]], sleep: Callable[[float], None]
) -> int:
    calls = 0
    for start in range(0, len(items), BATCH):
        pending: list[dict[str, Any]] = [{"PutRequest": {"Item": i}} for i in items[start : start + BATCH]]
        rounds = 0
        while pending:
            try:
                response = dynamodb.batch_write_item(RequestItems={table: pending})
            except botocore.exceptions.ClientError as exc:
                exc.picops_written = start  # type: ignore[attr-defined]  # the chunks before this one
                raise
            calls += 1
            pending = list((response.get("UnprocessedItems") or {}).get(table) or [])
            if pending:
                rounds += 1
                if rounds > _MAX_UNPROCESSED_ROUNDS:
                    raise UnprocessedItems(
                        f"{len(pending)} item(s) still unprocessed by {table} after {rounds} rounds"
                    )
                sleep(min(2.0, 0.05 * 2**rounds))
    return calls


def _delete_written(dynamodb: Any, table: str, items: Sequence[dict[str, Any]]) -> None:
    """Best effort: the records a drop that failed part-way had written are removed again, each only while it
    is still this drop's (a record of the same id written since by another drop stays)."""
    for item in items:
        try:
            dynamodb.delete_item(
                TableName=table,
                Key={"pk": item["pk"], "sk": item["sk"]},
                ConditionExpression="#source = :source",
                ExpressionAttributeNames={"#source": SOURCE_ATTRIBUTE},
                ExpressionAttributeValues={":source": item[SOURCE_ATTRIBUTE]},
            )
        except botocore.exceptions.ClientError as exc:
            if aws_errors.is_conditional_failure(exc):
                continue
            return  # the job's reason still says the drop failed; `ingest gc` finds what is left
