"""Benchmark: draining a DLQ, naive mover vs picops's manual redrive path.

Both run against the same in-process moto server (`moto.server.ThreadedMotoServer` on 127.0.0.1) with the
same client-side latency per request (a botocore `before-send` hook that sleeps; default 10 ms, standing in
for the network round trip to SQS). Baseline: the loop many mover scripts use, receive one, send one, delete
one. picops: `ManualRedrive` (receive 10, archive, SendMessageBatch, DeleteMessageBatch of confirmed entries).

moto's SQS spends time proportional to queue depth on every call, so queues stay small
and a modelled time (requests x stated latency, emulator cost excluded) is printed beside the measured one.

    python -m bench.dlq_redrive [--messages 300] [--latency-ms 10] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TARGET_RATIO = 8.0
TARGET_REQUESTS_PER_MESSAGE = 0.35


@dataclass
class Run:
    name: str
    moved: int
    seconds: float
    requests: int

    @property
    def per_second(self) -> float:
        return self.moved / self.seconds if self.seconds else 0.0

    @property
    def requests_per_message(self) -> float:
        return self.requests / self.moved if self.moved else float("inf")


class _Latency:
    """Sleeps `seconds` before every request a client sends, and counts the requests."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.requests = 0

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-send.sqs", self._before_send)

    def _before_send(self, **_kwargs: Any) -> None:
        self.requests += 1
        if self.seconds:
            time.sleep(self.seconds)


def _fast_moto_clock() -> None:
    """moto's SQS reads the clock through two datetime conversions for every message on every call (most of
    its run time on a queue of a few hundred). The same UTC epoch seconds from time.time() keep its
    behaviour and shrink the emulator's share, for both movers alike; `--stock-moto` skips this."""
    import moto.sqs.models as sqs_models
    from moto.core.utils import unix_time as stock

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else float(stock(dt))

    sqs_models.unix_time = unix_time  # type: ignore[attr-defined]
    sqs_models.unix_time_millis = lambda dt=None: unix_time(dt) * 1000.0  # type: ignore[attr-defined]


def _pair(sqs: Any, name: str) -> tuple[str, str]:
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "3"})
    src = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": policy})["QueueUrl"]
    return src, dlq


def _fill(sqs: Any, url: str, count: int) -> None:
    for first in range(0, count, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {
                    "Id": f"e{i}",
                    "MessageBody": json.dumps({"seq": i, "payload": "x" * 200}),
                    "MessageAttributes": {"seq": {"DataType": "Number", "StringValue": str(i)}},
                }
                for i in range(first, min(first + 10, count))
            ],
        )


def _visible(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def naive_mover(sqs: Any, dlq_url: str, dest_url: str) -> int:
    """The baseline: one message at a time, stopping at the first empty receive."""
    moved = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=dlq_url, MaxNumberOfMessages=1, MessageAttributeNames=["All"], VisibilityTimeout=30
        ).get("Messages", [])
        if not messages:
            return moved
        message = messages[0]
        params: dict[str, Any] = {"QueueUrl": dest_url, "MessageBody": message["Body"]}
        if message.get("MessageAttributes"):
            params["MessageAttributes"] = message["MessageAttributes"]
        sqs.send_message(**params)
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
        moved += 1


def _measure(name: str, latency: _Latency, work: Callable[[], int]) -> Run:
    before = latency.requests
    began = time.perf_counter()
    moved = work()
    return Run(name, moved, time.perf_counter() - began, latency.requests - before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.dlq_redrive", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300, help="messages in each DLQ (default 300)")
    parser.add_argument("--latency-ms", type=float, default=10.0, help="client-side latency per request")
    parser.add_argument("--smoke", action="store_true", help="tiny run for CI")
    parser.add_argument(
        "--stock-moto",
        action="store_true",
        help="leave moto's slow per-message clock as is (see _fast_moto_clock)",
    )
    args = parser.parse_args(argv)
    count = 40 if args.smoke else args.messages

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    from moto.server import ThreadedMotoServer

    from picops.aws import ClientFactory
    from picops.config import AwsSettings
    from picops.core.dlq import (
        ManualRedrive,
        RedriveOptions,
        Router,
        arn_resolver,
        resolve_queue,
        source_queues,
    )
    from picops.local import free_port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the server's access log would drown the report
    if not args.stock_moto:
        _fast_moto_clock()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        factory = ClientFactory(AwsSettings(region="us-east-1", endpoint_url=f"http://127.0.0.1:{port}"))
        sqs = factory.client("sqs")
        latency = _Latency(args.latency_ms / 1000)
        latency.attach(sqs)

        latency.seconds, saved = 0.0, latency.seconds  # set-up is not measured
        naive_src, naive_dlq = _pair(sqs, "bench-naive")
        _fill(sqs, naive_dlq, count)
        latency.seconds = saved
        baseline = _measure("naive", latency, lambda: naive_mover(sqs, naive_dlq, naive_src))

        latency.seconds = 0.0
        picops_src, picops_dlq = _pair(sqs, "bench-picops")
        _fill(sqs, picops_dlq, count)
        latency.seconds = saved

        def picops_run() -> int:
            # Resolution (GetQueueUrl, attributes, sources) is part of the measured run, as in the CLI.
            dlq = resolve_queue(sqs, "bench-picops-dlq")
            router = Router(dlq, None, source_queues(sqs, dlq), arn_resolver(sqs))
            # Short polls on the emulator (it answers exactly); real SQS uses long polls, which add a
            # constant tail of empty_polls x wait at the end of a run, independent of the message count.
            options = RedriveOptions(wait_seconds=0, empty_polls=3)
            return ManualRedrive(sqs, dlq, router, options).run().moved

        picops = _measure("picops", latency, picops_run)
        latency.seconds = 0.0
        ok = (
            baseline.moved == picops.moved == count
            and _visible(sqs, naive_src) == count
            and _visible(sqs, picops_src) == count
            and _visible(sqs, picops_dlq) == 0
        )
    finally:
        server.stop()

    ratio = picops.per_second / baseline.per_second if baseline.per_second else 0.0
    lat = args.latency_ms / 1000
    modelled_base = baseline.requests * lat
    modelled_picops = picops.requests * lat
    modelled_ratio = modelled_base / modelled_picops if modelled_picops else 0.0
    print(
        f"dlq_redrive: {count} messages per DLQ, {args.latency_ms:g} ms client latency per request, "
        f"moto server in-process ({'stock' if args.stock_moto else 'fast'} clock)"
    )
    for run, label in ((baseline, "baseline (naive receive1/send1/delete1)"), (picops, "picops manual path")):
        print(
            f"  {label:42s} {run.per_second:8.1f} msg/s  {run.seconds:6.2f} s  "
            f"{run.requests:5d} requests  {run.requests_per_message:.3f} requests/msg  moved {run.moved}"
        )
    verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
    print(f"  ratio (measured): {ratio:.1f}x  target >= {TARGET_RATIO:g}x: {verdict}")
    rpm = picops.requests_per_message
    verdict = "PASS" if rpm <= TARGET_REQUESTS_PER_MESSAGE else "MISS"
    print(f"  picops requests per message: {rpm:.3f}  target <= {TARGET_REQUESTS_PER_MESSAGE}: {verdict}")
    print(
        f"  modelled at {args.latency_ms:g} ms/request (requests x latency, emulator time excluded): "
        f"baseline {modelled_base:.2f} s, picops {modelled_picops:.2f} s, ratio {modelled_ratio:.1f}x"
    )
    print(f"  all messages accounted for: {'yes' if ok else 'NO'}")
    if args.smoke:
        print("  (smoke size: picops's fixed per-run requests (resolve, 3 empty polls, count) dominate)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
