"""Benchmark: N bookings over M seats through the three bookings handlers on (in-process) moto.

picops: `api_handler` accepts each booking (position, publish to BookingTopic, which moto fans out to the two
FIFO queues); the queues are drained into `inventory_handler` and `payment_handler` with real SQS FIFO event
records, acknowledging what they did not report failed. Baseline: "first writer wins", the naive design many
start with: per booking a PutItem and a conditional claim of the seat; the claimant is charged (same simulated
gateway) and the seat marked sold, or released on a decline. It has no line, so a declined seat is not passed
on (rule 3 fails) and nothing survives a lost message; it is the floor for requests per booking.

The card mix is stated in the output (default 70% approve, 20% decline, 10% timeout, seeded). The primary
figure is AWS request-equivalents per booking by kind, counted by botocore hooks on the very clients each
side uses (`before-parameter-build`, once per API call): a TransactWriteItems counts 2 (DynamoDB runs it in
two phases, prepare and commit, and bills it twice), every other request 1; reads are labelled strong or
eventual. Left out on both sides: the simulated gateway's ledger (a real gateway keeps its own; shown apart)
and the SQS receive/delete calls, which Lambda's event source mapping makes, not the functions. From those
counts, a modelled time per booking at 5 and 10 ms per request. Target: <= 5 per booking and <= 2x the
baseline's. The measured bookings/s is printed last and means little: moto's TransactWriteItems deep-copies
every table a transaction names, and its Query sorts the partition, so moto's own cost dominates it.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import random
import time
from typing import Any

from picops.aws import lambda_factory
from picops.core.bookings import SimulatedGateway, idempotency_key
from picops.local import sqs_record

ACCOUNT, REGION = "123456789012", "us-east-1"
LATENCIES_S = (0.005, 0.010)
TARGET_EQUIVALENTS = 5.0
TARGET_BASELINE_RATIO = 2.0
READS = {"GetItem", "Query", "Scan", "BatchGetItem"}
WEIGHTS = {"dynamodb:TransactWriteItems": 2}


class Tally:
    """AWS requests by kind, counted by a botocore hook on the clients it is attached to."""

    def __init__(self) -> None:
        self.kinds: collections.Counter[str] = collections.Counter()
        self.ledger: collections.Counter[str] = collections.Counter()

    def attach(self, *clients: Any) -> Tally:
        for client in clients:
            client.meta.events.register(
                "before-parameter-build.*.*", self._count, unique_id=f"tally-{id(self)}"
            )
        return self

    def _count(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        kind = f"{service}:{model.name}"
        if model.name in READS:
            kind += " (strong)" if params.get("ConsistentRead") else " (eventual)"
        (self.ledger if _is_ledger(params) else self.kinds)[kind] += 1

    def equivalents(self) -> float:
        return float(sum(n * WEIGHTS.get(kind, 1) for kind, n in self.kinds.items()))

    def reset(self) -> None:
        self.kinds.clear()
        self.ledger.clear()


def _is_ledger(params: dict[str, Any]) -> bool:
    """The simulated gateway's own items (pk CHARGES#...): a real gateway keeps its ledger elsewhere."""
    pk = (
        params.get("Key", params.get("Item", {})).get("pk", {}).get("S")
        or params.get("ExpressionAttributeValues", {}).get(":pk", {}).get("S")
        or ""
    )
    return str(pk).startswith("CHARGES#")


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
                "requestContext": {
                    "http": {"method": "POST", "path": "/bookings"},
                    "requestId": str(n),
                    "stage": "$default",
                },
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
    n, seats, round_size = (24, 4, 4) if args.smoke else (args.bookings, args.seats, args.round)
    mix = (0.7, 0.2, 0.1)
    plan = _plan(n, seats, mix, seed=7)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")
    os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = REGION
    for name in [k for k in os.environ if k.startswith("PICOPS_")]:
        del os.environ[name]
    os.environ["PICOPS_BOOKINGS__UNKNOWN_RETRIES"] = "1"
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # a log line per message would drown the figures

    from moto import mock_aws

    from picops.aws import ClientFactory
    from picops.config import AwsSettings

    with mock_aws():
        factory = ClientFactory(AwsSettings(region=REGION))
        lambda_factory.cache_clear()
        urls = _stack(factory)
        ddb = factory.client("dynamodb")
        _table(ddb, "baseline")
        # Warm-up (moto loads each service's backend on first use): one booking each, on another seat.
        warm = [("W0", "warm", "tok_visa"), ("W0", "warm2", "tok_decline_w"), ("W1", "warm3", "tok_timeout")]
        run_baseline(ddb, "baseline", warm)
        with contextlib.redirect_stdout(io.StringIO()):
            run_picops(factory, warm, urls, len(warm))
        # The handlers' own clients (one per container, cached by the factory) and the baseline's.
        ours = Tally().attach(lambda_factory().client("dynamodb"), lambda_factory().client("sns"))
        base = Tally().attach(ddb)
        base.reset()
        began = time.perf_counter()
        run_baseline(ddb, "baseline", plan)
        t_base = time.perf_counter() - began
        base_counts = collections.Counter(base.kinds)
        ours.reset()
        began = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # the consumers' EMF metric documents
            run_picops(factory, plan, urls, round_size)
        t_picops = time.perf_counter() - began
        sold = _sold(ddb)
    _report(n, seats, mix, sold, base, ours, base_counts)
    print(
        f"measured on moto: baseline {n / t_base:,.0f} bookings/s, picops {n / t_picops:,.0f} bookings/s "
        "(moto's per-request cost, not picops's: see the module's docstring)"
    )
    ratio = ours.equivalents() / max(1.0, base.equivalents())
    per_booking = ours.equivalents() / n
    verdict = "PASS" if per_booking <= TARGET_EQUIVALENTS and ratio <= TARGET_BASELINE_RATIO else "MISS"
    print(
        f"{verdict}: {per_booking:.2f} request-equivalents/booking <= {TARGET_EQUIVALENTS:g} "
        f"and {ratio:.2f}x the baseline's <= {TARGET_BASELINE_RATIO:g}x"
    )
    return 0


def _sold(ddb: Any) -> int:
    return sum(
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


def _report(
    n: int,
    seats: int,
    mix: tuple[float, float, float],
    sold: int,
    base: Tally,
    ours: Tally,
    base_counts: collections.Counter[str],
) -> None:
    print(
        f"{n} bookings over {seats} seats; cards: {mix[0]:.0%} approve, {mix[1]:.0%} decline, "
        f"{mix[2]:.0%} timeout (unknown once, approved on the retry with the same key); seats sold: {sold}"
    )
    print("request-equivalents per booking by kind (botocore hooks; TransactWriteItems counts 2):")
    print(f"  {'kind':36s} {'baseline':>9s} {'picops':>9s}")
    for kind in sorted(set(base_counts) | set(ours.kinds)):
        weight = WEIGHTS.get(kind, 1)
        label = f"{kind} x{weight}" if weight != 1 else kind
        print(f"  {label:36s} {base_counts[kind] * weight / n:9.2f} {ours.kinds[kind] * weight / n:9.2f}")
    b, p = base.equivalents() / n, ours.equivalents() / n
    print(f"  {'total':36s} {b:9.2f} {p:9.2f}   ({p / b:.2f}x the baseline's)")
    print(
        f"  {'(gateway ledger, left out)':36s} {sum(base.ledger.values()) / n:9.2f} "
        f"{sum(ours.ledger.values()) / n:9.2f}"
    )
    for latency in LATENCIES_S:
        ms = latency * 1000
        print(
            f"modelled at {ms:.0f} ms/request: baseline {b * ms:.1f} ms, picops {p * ms:.1f} ms of requests "
            f"per booking ({p / b:.2f}x the baseline's time)"
        )


if __name__ == "__main__":
    raise SystemExit(main())
