"""Benchmark: N bookings over M seats through the three bookings handlers on (in-process) moto.

picops: `api_handler` accepts each booking (position, publish to BookingTopic, which moto fans out to the two
FIFO queues); the queues are drained into `inventory_handler` and `payment_handler` with real SQS FIFO event
records, acknowledging what they did not report failed. Baseline: "first writer wins", the naive design many
start with: per booking a PutItem and a conditional claim of the seat; the claimant is charged (same simulated
gateway) and the seat marked sold, or released on a decline. It has no line, so a declined seat is not passed
on (rule 3 fails) and nothing survives a lost message; it is the floor for writes per booking.

The card mix is stated in the output (default 70% approve, 20% decline, 10% timeout, seeded). Reported:
bookings decided per second for each and the ratio, and DynamoDB item writes per booking (transaction items
counted one by one; the simulated gateway's ledger writes shown apart, a real gateway keeps its own).
Target: <= 6 pipeline writes per booking. A modelled time at 10 ms per AWS request is printed beside the
measured one: moto's cost dominates the measurement (DESIGN.md section 7), and its TransactWriteItems
deep-copies every table a transaction names before applying it, so each accepted booking costs time
proportional to the table's size on moto (not on DynamoDB); the baseline makes no transactions.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from typing import Any

import botocore.client

from picops.aws import lambda_factory
from picops.core.bookings import SimulatedGateway, idempotency_key
from picops.local import sqs_record

ACCOUNT, REGION = "123456789012", "us-east-1"
LATENCY_S = 0.010
TARGET_WRITES = 6.0
WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem"}


class Counter:
    def __init__(self) -> None:
        self.requests = 0
        self.writes = 0
        self.ledger_writes = 0
        self.original = botocore.client.BaseClient._make_api_call

    def install(self) -> None:
        counter, original = self, self.original

        def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
            counter.requests += 1
            if operation in WRITE_OPS:
                if str(params.get("Item", {}).get("pk", {}).get("S", "")).startswith("CHARGES#"):
                    counter.ledger_writes += 1
                else:
                    counter.writes += 1
            elif operation == "TransactWriteItems":
                counter.writes += len(params["TransactItems"])
            return original(client, operation, params)

        botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]

    def reset(self) -> None:
        self.requests = self.writes = self.ledger_writes = 0


def _table(ddb: Any, name: str) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def _stack(factory: Any) -> dict[str, str]:
    ddb, sns, sqs = factory.client("dynamodb"), factory.client("sns"), factory.client("sqs")
    _table(ddb, "picops-bookings")
    topic = sns.create_topic(Name="picops-booking.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    urls = {}
    for name in ("inventory", "payment"):
        url = sqs.create_queue(QueueName=f"picops-{name}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
        urls[name] = url
    return urls


class Context:
    def __init__(self, function: str) -> None:
        self.function_name = f"picops-{function}"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:picops-{function}:live"
        self.aws_request_id = "bench"
        self.memory_limit_in_mb = 512

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _drain(sqs: Any, url: str, handler: Any, context: Context) -> None:
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{url.rsplit('/', 1)[-1]}"
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=30
        ).get("Messages", [])
        if not messages:
            return
        records = [sqs_record(m, arn) for m in messages]
        response = handler({"Records": records}, context)
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        done = [m for m in messages if m["MessageId"] not in failed]
        retry = [m for m in messages if m["MessageId"] in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        if retry:
            sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(retry)
                ],
            )


def run_picops(factory: Any, plan: list[tuple[str, str, str]], urls: dict[str, str], round_size: int) -> None:
    from picops.handlers import bookings

    sqs = factory.client("sqs")
    api, inv, pay = Context("booking-api"), Context("inventory"), Context("payment")
    for start in range(0, len(plan), round_size):
        for n, (seat, customer, token) in enumerate(plan[start : start + round_size], start):
            body = {"event_id": "bench", "seat_id": seat, "customer_id": customer, "payment_token": token}
            event = {
                "version": "2.0",
                "routeKey": "POST /bookings",
                "rawPath": "/bookings",
                "headers": {"content-type": "application/json"},
                "requestContext": {"http": {"method": "POST", "path": "/bookings"}, "requestId": str(n)},
                "body": json.dumps(body),
                "isBase64Encoded": False,
            }
            response = bookings.api_handler(event, api)
            assert response["statusCode"] == 202, response
        # Queues kept shallow: moto's SQS cost grows with depth.
        _drain(sqs, urls["inventory"], bookings.inventory_handler, inv)
        _drain(sqs, urls["payment"], bookings.payment_handler, pay)


def run_baseline(ddb: Any, table: str, plan: list[tuple[str, str, str]]) -> None:
    gateway = SimulatedGateway(ddb, table)
    for n, (seat, customer, token) in enumerate(plan):
        booking = f"b{n:08d}"
        ddb.put_item(
            TableName=table,
            Item={
                "pk": {"S": f"B#{booking}"},
                "sk": {"S": "B"},
                "seat": {"S": seat},
                "customer": {"S": customer},
            },
        )
        try:
            ddb.update_item(
                TableName=table,
                Key={"pk": {"S": f"SEAT#{seat}"}, "sk": {"S": "S"}},
                UpdateExpression="SET holder = :b",
                ConditionExpression="attribute_not_exists(holder)",
                ExpressionAttributeValues={":b": {"S": booking}},
            )
        except ddb.exceptions.ConditionalCheckFailedException:
            continue  # someone was first
        outcome = gateway.charge(booking, 1000, token, idempotency_key(booking))
        if outcome.value == "unknown":
            outcome = gateway.charge(booking, 1000, token, idempotency_key(booking))
        if outcome.value == "approved":
            expression, values = "SET sold = :t", {":t": {"BOOL": True}}
        else:
            expression, values = "REMOVE holder", {}
        kwargs: dict[str, Any] = {"ExpressionAttributeValues": values} if values else {}
        ddb.update_item(
            TableName=table,
            Key={"pk": {"S": f"SEAT#{seat}"}, "sk": {"S": "S"}},
            UpdateExpression=expression,
            **kwargs,
        )


def _plan(n: int, seats: int, mix: tuple[float, float, float], seed: int) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    plan = []
    for i in range(n):
        token = rng.choices(["tok_visa", "tok_decline_bench", "tok_timeout"], weights=mix)[0]
        plan.append((f"S{i % seats:04d}", f"c{i}", token))
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.bookings")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--bookings", type=int, default=400)
    parser.add_argument("--seats", type=int, default=40)
    parser.add_argument(
        "--round", type=int, default=20, help="bookings accepted before the queues are drained"
    )
    args = parser.parse_args(argv)
    n, seats = (24, 4) if args.smoke else (args.bookings, args.seats)
    mix = (0.7, 0.2, 0.1)
    plan = _plan(n, seats, mix, seed=7)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")
    os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = REGION
    for name in [k for k in os.environ if k.startswith("PICOPS_")]:
        del os.environ[name]
    os.environ["PICOPS_BOOKINGS__UNKNOWN_RETRIES"] = "1"

    from moto import mock_aws

    from picops.aws import ClientFactory
    from picops.config import AwsSettings

    counter = Counter()
    counter.install()
    with mock_aws():
        factory = ClientFactory(AwsSettings(region=REGION))
        lambda_factory.cache_clear()
        urls = _stack(factory)
        ddb = factory.client("dynamodb")
        _table(ddb, "baseline")
        # Warm-up (moto loads each service's backend on first use): one booking each, on another seat.
        warm = [("W0", "warm", "tok_visa"), ("W0", "warm2", "tok_decline_w"), ("W1", "warm3", "tok_timeout")]
        run_baseline(ddb, "baseline", warm)
        run_picops(factory, warm, urls, len(warm))
        counter.reset()
        began = time.perf_counter()
        run_baseline(ddb, "baseline", plan)
        t_base = time.perf_counter() - began
        base_writes, base_ledger, base_requests = counter.writes, counter.ledger_writes, counter.requests
        counter.reset()
        began = time.perf_counter()
        run_picops(factory, plan, urls, args.round)
        t_picops = time.perf_counter() - began
        writes, ledger, requests = counter.writes, counter.ledger_writes, counter.requests
        sold = sum(
            1
            for page in ddb.get_paginator("scan").paginate(
                TableName="picops-bookings",
                FilterExpression="sk = :s AND #st = :sold",
                ExpressionAttributeNames={"#st": "state"},
                ExpressionAttributeValues={":s": {"S": "#SEAT"}, ":sold": {"S": "SOLD"}},
            )
            for item in page["Items"]
            if not item["seat_id"]["S"].startswith("W")
        )
    print(
        f"{n} bookings over {seats} seats; cards: {mix[0]:.0%} approve, {mix[1]:.0%} decline, "
        f"{mix[2]:.0%} timeout (unknown once, approved on the retry with the same key); seats sold: {sold}"
    )
    print(
        f"baseline (first writer wins, no line): {n / t_base:,.0f} bookings/s, "
        f"{base_writes / n:.2f} writes/booking (+{base_ledger / n:.2f} gateway ledger), "
        f"{base_requests / n:.1f} requests/booking"
    )
    print(
        f"picops (api -> SNS FIFO -> inventory + payment): {n / t_picops:,.0f} bookings/s, "
        f"{writes / n:.2f} writes/booking (+{ledger / n:.2f} gateway ledger), "
        f"{requests / n:.1f} requests/booking (SNS, SQS and DynamoDB)"
    )
    print(f"ratio: {t_base / t_picops:.2f}x the baseline's speed")
    print(
        f"modelled at {LATENCY_S * 1000:.0f} ms/request: "
        f"baseline {base_requests * LATENCY_S / n * 1000:.0f} ms, "
        f"picops {requests * LATENCY_S / n * 1000:.0f} ms of requests per booking"
    )
    print(f"modelled ratio: {base_requests / requests:.2f}x the baseline's speed (requests per booking)")
    print("note: measured time is moto's: its TransactWriteItems deep-copies the whole table per item")
    verdict = "PASS" if writes / n <= TARGET_WRITES else "MISS"
    print(f"{verdict}: {writes / n:.2f} pipeline writes/booking <= {TARGET_WRITES:g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
