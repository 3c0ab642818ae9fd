"""Benchmark: the local runtime's SQS pump (`picops local run --once`) against a hand-written consumer.

Both drain the same number of messages from a queue on an embedded moto server and hand them, in batches of
10, to the same no-op handler; the queue is kept small (moto's SQS cost grows with queue depth).
Baseline: the minimal correct consumer — ReceiveMessage (10, 1 s long poll), call the handler, one
DeleteMessageBatch — with no event shaping, no per-function environment and no partial-failure handling.
picops: `LocalRuntime.drain()` over one recorded mapping (real Lambda event shape, the function's environment
applied and restored per call, batch-item-failure semantics). Reported: messages/s of each, the ratio, SQS
requests per message (the primary figure where the emulator's own cost dominates), and a modelled time at
20 ms per request. Targets: picops within 25% of the baseline's speed and no more requests per message.
Concurrency: the same drain to a handler waiting 50 ms per batch, serially and with MaximumConcurrency 5;
target >= 2x the serial throughput (docs/local.md).
Memory: `picops local run --until-idle` (a separate process, as a developer runs it) ingests one 12 MP WebP
uploaded to a provisioned stack on `picops local up`; the line reports IngestFunction's peak from the run's
summary (`memory`, docs/local.md "Memory") against the target of 64 MB above baseline (docs/ingest.md).
`--smoke` uses a 1000x750 WebP.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from picops.aws import ClientFactory
from picops.config import AwsSettings, Settings
from picops.local import LocalRuntime

LATENCY_S = 0.020
TARGET_SPEED_RATIO = 0.75
STRICT_COST = 0.10  # strict local mode may cost at most 10% of the runtime's throughput


IO_WAIT_S = 0.050
CONCURRENCY = 5
TARGET_CONCURRENCY_RATIO = 2.0


def io_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A handler that waits on I/O (a downstream call) for 50 ms per batch."""
    time.sleep(IO_WAIT_S)
    return {"batchItemFailures": []}


def noop_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"batchItemFailures": []}


class RequestCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, **kwargs: Any) -> None:
        self.count += 1


def _fill(sqs: Any, url: str, n: int) -> None:
    for start in range(0, n, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "MessageBody": f'{{"n": {start + i}}}'} for i in range(min(10, n - start))
            ],
        )


def baseline(sqs: Any, url: str) -> int:
    done = 0
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if not messages:
            return done
        noop_handler({"Records": [{"body": m["Body"]} for m in messages]}, None)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
        done += len(messages)


def _drain(
    factory: ClientFactory,
    settings: Settings,
    record: dict[str, Any],
    sqs: Any,
    queue: str,
    n: int,
    counter: Any,
) -> tuple[float, int]:
    runtime = LocalRuntime(factory, settings, mappings=[record])
    runtime.prepare()
    _fill(sqs, queue, n)
    counter.count = 0
    began = time.perf_counter()
    try:
        runtime.drain()
    finally:
        runtime.close()
    elapsed, requests = time.perf_counter() - began, counter.count
    stats = runtime.summary()["mappings"][0]
    assert stats["records"] == n, stats
    assert stats["failed_records"] == 0, stats
    return elapsed, requests


def _concurrency(
    factory: ClientFactory, settings: Settings, record: dict[str, Any], sqs: Any, queue: str, n: int
) -> tuple[float, float, int]:
    """Drain `n` messages (batches of 2) to the 50 ms handler serially, then with MaximumConcurrency 5.
    No long poll at the end (wait 0), so the figure is the invocations' own time."""
    timings: list[float] = []
    peak = 0
    for most in (None, CONCURRENCY):
        mapping = dict(record["mapping"], BatchSize=2)
        if most is not None:
            mapping["ScalingConfig"] = {"MaximumConcurrency": most}
        runtime = LocalRuntime(
            factory,
            settings,
            wait_s=0,
            mappings=[dict(record, handler=f"{__name__}.io_handler", mapping=mapping)],
        )
        runtime.prepare()
        _fill(sqs, queue, n)
        began = time.perf_counter()
        try:
            runtime.drain()
        finally:
            runtime.close()
        timings.append(time.perf_counter() - began)
        stats = runtime.summary()
        assert stats["mappings"][0]["records"] == n, stats
        peak = stats["concurrency"]["max"]
    return timings[0], timings[1], peak


def _guard(queue_arn: str, function_name: str, factory: ClientFactory) -> Any:
    """A guard whose operator and function role may use the bench queue (the role as provision grants it)."""
    from picops.strict import Guard, Principal

    consume = [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
    ]

    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [*consume, "sqs:GetQueueUrl", "sqs:SendMessage"],
                "Resource": queue_arn,
            },
            # The runtime reads alias live's routing weights (a release in progress sends a share of the
            # invocations to the new version), as the operator policy allows.
            {
                "Effect": "Allow",
                "Action": "lambda:GetAlias",
                "Resource": f"arn:aws:lambda:{factory.region}:{factory.account_id()}:function:"
                f"{function_name}",
            },
        ],
    }
    return Guard(
        operator_policy=lambda: policy,
        operator_arn=lambda: "arn:aws:iam::123456789012:user/bench",
        read_role=lambda name: Principal(f"arn:aws:sts::123456789012:assumed-role/bench/{name}", [policy]),
        account=factory.account_id,
    )


WEBP_TARGET_MB = 64.0


def _picops(*args: str, env: dict[str, str], timeout: float = 600) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "picops", *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"picops {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout))


def webp_peak(smoke: bool) -> dict[str, Any]:
    """IngestFunction's memory in `picops local run` for one 12 MP WebP (1000x750 with `smoke`)."""
    from bench.imaging import p3_profile, photo
    from picops.local import free_port
    from picops.stack import StackNames

    width, height = (1000, 750) if smoke else (4000, 3000)
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PICOPS_", "AWS_"))}
        env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
            PICOPS_STATE_DIR=str(Path(home) / ".picops"),
            POWERTOOLS_LOG_LEVEL="WARNING",
        )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, "-m", "picops", "local", "up", "--port", str(port), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=home,
        )
        try:
            assert server.stdout is not None
            server.stdout.readline()  # the one JSON document: the endpoint answers
            _picops("--endpoint-url", url, "provision", "--yes", env=env)
            settings = Settings(aws=AwsSettings(region="us-east-1", endpoint_url=url))
            factory = ClientFactory.from_settings(settings)
            bucket = StackNames(settings, factory.account_id(), factory.region).uploads_bucket
            body = photo(width, height, "WEBP", p3_profile())
            factory.client("s3").put_object(
                Bucket=bucket, Key=f"{settings.ingest.prefix}bench.webp", Body=body
            )
            run = _picops("--endpoint-url", url, "local", "run", "--until-idle", env=env)
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    mapping = next(m for m in run["mappings"] if m["logical"] == "IngestFunctionMapping")
    # The photo, and S3's test event when the notification was configured (handled and dropped).
    assert mapping["records"] >= 1, mapping
    assert mapping["failed_records"] == 0, mapping
    return {"size": f"{width}x{height}", "method": run["memory_method"], **run["memory"]["IngestFunction"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.local_runtime", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args(argv)
    n = 30 if args.smoke else args.messages

    from moto.server import ThreadedMotoServer

    from picops.local import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        url = f"http://127.0.0.1:{port}"
        settings = Settings(aws=AwsSettings(region="us-east-1", endpoint_url=url))
        factory = ClientFactory.from_settings(settings)
        sqs = factory.client("sqs")
        counter = RequestCounter()
        sqs.meta.events.register("before-send.sqs", counter)
        queue = sqs.create_queue(QueueName="bench-runtime")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

        _fill(sqs, queue, n)
        counter.count = 0
        began = time.perf_counter()
        assert baseline(sqs, queue) == n
        t_base, r_base = time.perf_counter() - began, counter.count

        record = {
            "logical": "BenchMapping",
            "function": "IngestFunction",
            "function_name": "picops-ingest",
            "handler": "bench.local_runtime.noop_handler",
            "source": "BenchQueue",
            "mapping": {
                "EventSourceArn": arn,
                "BatchSize": 10,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
            },
        }
        t_picops, r_picops = _drain(factory, settings, record, sqs, queue, n, counter)
        # The same run with strict local mode's guard on the runtime's clients (IAM and request limits).
        guard = _guard(arn, record["function_name"], factory)
        strict = ClientFactory(settings.aws, installers=(guard.install,))
        strict_sqs = strict.client("sqs")
        strict_sqs.meta.events.register("before-send.sqs", counter)
        t_strict, _ = _drain(strict, settings, record, strict_sqs, queue, n, counter)
        assert guard.tally.checked >= r_picops, guard.tally  # every request went through the guard
        assert guard.tally.denied == 0, guard.tally.denials
        t_serial, t_wide, peak = _concurrency(factory, settings, record, sqs, queue, n)
    finally:
        server.stop()

    # Both end with one empty 1 s long poll; it is part of draining, so it stays in both timings.
    print(
        f"baseline (receive/handler/delete loop): {n / t_base:,.0f} msg/s, {r_base / n:.2f} SQS requests/msg"
    )
    print(f"picops (LocalRuntime.drain): {n / t_picops:,.0f} msg/s, {r_picops / n:.2f} SQS requests/msg")
    ratio = t_base / t_picops
    print(f"ratio: {ratio:.2f}x the baseline's speed over {n} messages")
    print(
        f"modelled at {LATENCY_S * 1000:.0f} ms/request: baseline {r_base * LATENCY_S:.2f} s, "
        f"picops {r_picops * LATENCY_S:.2f} s"
    )
    cost = t_strict / t_picops - 1
    print(
        f"strict local mode: {n / t_strict:,.0f} msg/s with every request authorised and checked, "
        f"{cost:+.0%} time against the same drain without it (target <= +{STRICT_COST:.0%}: "
        f"{'PASS' if cost <= STRICT_COST else 'MISS'})"
    )
    wide = t_serial / t_wide
    print(
        f"MaximumConcurrency {CONCURRENCY}, handler waiting {IO_WAIT_S * 1000:.0f} ms per batch of 2: "
        f"serial {n / t_serial:,.0f} msg/s, concurrent {n / t_wide:,.0f} msg/s (peak {peak} at once)"
    )
    print(
        f"{'PASS' if wide >= TARGET_CONCURRENCY_RATIO else 'MISS'}: concurrency ratio {wide:.2f}x "
        f">= {TARGET_CONCURRENCY_RATIO:.1f}x the serial runtime"
    )
    webp = webp_peak(args.smoke)
    above = webp["above_baseline_mb"]
    print(
        f"local run, one {webp['size']} WebP upload: IngestFunction peaked {above:g} MB above the "
        f"process before it ran (RSS high-water {webp['peak_mb']:g} MB, {webp['method']}; MemorySize "
        f"{webp['memory_size_mb']} MB); {'PASS' if above <= WEBP_TARGET_MB else 'MISS'}: "
        f"<= {WEBP_TARGET_MB:g} MB above baseline"
    )
    verdict = "PASS" if ratio >= TARGET_SPEED_RATIO else "MISS"
    print(f"{verdict}: >= {TARGET_SPEED_RATIO:.2f}x the baseline's speed")
    print(f"{'PASS' if r_picops <= r_base else 'MISS'}: requests/msg {r_picops / n:.2f} <= {r_base / n:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
