"""Handlers and mapping records for the local runtime tests (`picops local run`)."""

from __future__ import annotations

import json
import os
from typing import Any

from picops.stack.local_mappings import local_mapping_parameter

# What the handlers below saw, in call order (tests reset it).
CALLS: list[dict[str, Any]] = []


def partial_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Reports every message whose body contains "fail" as a batch item failure."""
    CALLS.append(
        {
            "event": event,
            "function_name": context.function_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "stack_env": os.environ.get("PICOPS_STACK"),
            "endpoint_env": os.environ.get("PICOPS_ENDPOINT_URL"),
        }
    )
    failed = [r["messageId"] for r in event["Records"] if "fail" in r["body"]]
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}


def stream_fail_bad(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Reports the stream records whose key is "bad" as batch item failures (by SequenceNumber)."""
    CALLS.append({"event": event})
    return {
        "batchItemFailures": [
            {"itemIdentifier": r["dynamodb"]["SequenceNumber"]}
            for r in event["Records"]
            if r["dynamodb"]["Keys"]["k"]["S"] == "bad"
        ]
    }


def raising_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    CALLS.append({"event": event})
    raise RuntimeError("boom")


def mapping_record(
    logical: str,
    *,
    queue_arn: str,
    handler: str,
    function: str = "IngestFunction",
    batch_size: int = 10,
    report_failures: bool = True,
) -> dict[str, Any]:
    return {
        "logical": logical,
        "function": function,
        "function_name": f"picops-{function}",
        "handler": handler,
        "source": "TestQueue",
        "mapping": {
            "EventSourceArn": queue_arn,
            "BatchSize": batch_size,
            "FunctionResponseTypes": ["ReportBatchItemFailures"] if report_failures else [],
            "Enabled": True,
        },
    }


def record_mapping(factory: Any, record: dict[str, Any], stack: str = "picops") -> None:
    """Write a mapping record where provision would on a local endpoint."""
    factory.client("ssm").put_parameter(
        Name=local_mapping_parameter(stack, record["logical"]),
        Value=json.dumps(record),
        Type="String",
        Overwrite=True,
    )


def queue_counts(factory: Any, url: str) -> tuple[int, int]:
    attrs = factory.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])
