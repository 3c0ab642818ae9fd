"""A stream mapping's ParallelizationFactor in the local runtime: up to N batches of one shard at once, the
records of one partition key in one batch lane and in stream order, as Lambda keeps them (docs/local.md,
"ParallelizationFactor")."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from picops.config import AwsSettings, Settings
from picops.local.runtime import LocalRuntime
from picops.local.stream_source import deal

SEEN: list[tuple[str, int]] = []
_SEEN_LOCK = threading.Lock()


def ordered_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Notes each record's (partition key, version) as it starts, then waits on "I/O" so lanes overlap."""
    with _SEEN_LOCK:
        for r in event["Records"]:
            image = r["dynamodb"]["NewImage"]
            SEEN.append((image["pk"]["S"], int(image["n"]["N"])))
    time.sleep(0.05)
    return {"batchItemFailures": []}


def _record(pk: str, sk: str) -> dict[str, Any]:
    return {"dynamodb": {"Keys": {"pk": {"S": pk}, "sk": {"S": sk}}}}


def test_dealing_keeps_a_partition_key_in_one_lane_in_order_and_stops_at_a_full_lane() -> None:
    records = [_record(f"p{i % 5}", f"s{i}") for i in range(40)]
    lanes = deal(records, 3, 4, lambda r: r["dynamodb"]["Keys"]["pk"])
    dealt = sorted(i for lane in lanes for i in lane)
    assert dealt == list(
        range(len(dealt))
    )  # a prefix of the shard: one checkpoint still says where to resume
    assert 1 < len(lanes) <= 3
    assert all(len(lane) <= 4 for lane in lanes)
    assert any(len(lane) == 4 for lane in lanes)  # it stopped because a lane was full
    for lane in lanes:
        assert lane == sorted(lane)
    lane_of = {}
    for n, lane in enumerate(lanes):
        for i in lane:
            assert lane_of.setdefault(records[i]["dynamodb"]["Keys"]["pk"]["S"], n) == n


@pytest.mark.parametrize("factor", [1, 4])
def test_parallelised_shard_runs_batches_at_once_and_keeps_each_partition_key_in_order(
    server_factory: Any, endpoint: str, factor: int
) -> None:
    ddb = server_factory.client("dynamodb")
    arn = ddb.create_table(
        TableName="parallel-jobs",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    written = [(f"job{i % 6}", i) for i in range(36)]
    for pk, n in written:
        # A new sort key per version: ordering is per partition key, not per item.
        ddb.put_item(
            TableName="parallel-jobs", Item={"pk": {"S": pk}, "sk": {"S": f"v{n:03d}"}, "n": {"N": str(n)}}
        )
    record = {
        "logical": "ParallelMapping",
        "function": "IngestFunction",
        "function_name": "picops-ingest",
        "handler": f"{__name__}.ordered_handler",
        # The stack's JobsTable: its hash key (pk) is the partition key lanes are dealt by.
        "source": "JobsTable",
        "mapping": {
            "EventSourceArn": arn,
            "BatchSize": 2,
            "StartingPosition": "TRIM_HORIZON",
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ParallelizationFactor": factor,
        },
    }
    settings = Settings(aws=AwsSettings(region="us-east-1", endpoint_url=endpoint))
    SEEN.clear()
    runtime = LocalRuntime(server_factory, settings, wait_s=0, mappings=[record])
    runtime.prepare()
    try:
        runtime.drain()
    finally:
        runtime.close()
    doc = runtime.summary()
    (mapping,) = doc["mappings"]
    assert sorted(SEEN) == sorted(written)  # each record once
    assert doc["memory"]["IngestFunction"]["memory_size_mb"] == runtime.sources[0][1].target.memory_mb
    for pk in {pk for pk, _ in written}:
        assert [n for p, n in SEEN if p == pk] == [n for p, n in written if p == pk]
    if factor == 1:
        assert (mapping["max_concurrent"], mapping["parallel_batches"]) == (1, 0)
    else:
        assert mapping["max_concurrent"] > 1
        assert mapping["parallel_batches"] > 0
        assert doc["concurrency"]["parallel_batches"] == mapping["parallel_batches"]
