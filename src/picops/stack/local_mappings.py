"""The record of an event source mapping on a local endpoint: where it is kept and what it holds.

moto cannot invoke Lambda functions without Docker and interferes with mappings it cannot run, so on a
local endpoint `picops provision` records each mapping as an SSM parameter on the endpoint itself instead of
creating it; `picops local run` reads the records and pumps the sources. Both sides use this module (and
neither imports the other). The record lives and dies with the emulated stack: a reset endpoint forgets it
too, and any process pointed at the endpoint finds it.

Each record is a JSON object `{"logical", "function", "function_name", "handler", "source", "mapping"}`
where `mapping` holds the fields AWS would have been given (`EventSourceArn`, `BatchSize`,
`FunctionResponseTypes`, ...).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

LOCAL_MAPPING_PATH = "/picops/{stack}/local/event-source-mappings"


def local_mapping_parameter(stack: str, logical: str) -> str:
    """The SSM parameter name holding one mapping's record."""
    return f"{LOCAL_MAPPING_PATH.format(stack=stack)}/{logical}"


def encode_record(
    *, logical: str, function: str, function_name: str, handler: str, source: str, mapping: Mapping[str, Any]
) -> str:
    """The parameter value provision writes (stable: sorted keys, so an unchanged mapping is byte-equal)."""
    record = {
        "logical": logical,
        "function": function,
        "function_name": function_name,
        "handler": handler,
        "source": source,
        "mapping": dict(mapping),
    }
    return json.dumps(record, sort_keys=True)


def decode_record(value: str) -> dict[str, Any]:
    """One parameter value back into its record (validated further by `picops.local.mappings`)."""
    record = json.loads(value)
    if not isinstance(record, dict):
        raise ValueError("a local event source mapping record must be a JSON object")
    return record


def read_local_mappings(ssm: Any, stack: str) -> list[dict[str, Any]]:
    """Every mapping recorded for `stack` on the endpoint `ssm` talks to, sorted by logical name."""
    records = []
    for page in ssm.get_paginator("get_parameters_by_path").paginate(
        Path=LOCAL_MAPPING_PATH.format(stack=stack), Recursive=False
    ):
        records += [decode_record(p["Value"]) for p in page["Parameters"]]
    return sorted(records, key=lambda r: str(r.get("logical")))
