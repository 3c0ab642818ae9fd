"""Benchmark: `tag-backfill`'s engine vs the naive loop, on a local moto server with client-side latency.

Both sides talk to the same moto server, run in a process of its own (`python -m picops.local.server`, as
picops's local endpoint runs it), through clients that sleep `--latency-ms` before every request (a botocore
`before-send` hook), standing in for a laptop-to-region round trip. The server has its own process because
no real deployment shares an interpreter with S3: a server inside the bench's process would compete with the
bench's own clients for the GIL, and the figure would measure that contention rather than the engine.
The naive loop lists, then per object gets its tags, gets its verdict item and puts tags, sequentially, over
every object (or `--naive-sample N` of them: its per-object cost is constant). picops runs the real engine at
`--concurrency`.

On a small machine moto, not the client, is the limit, so each round also measures the emulator's ceiling
for picops's OWN request mix: the requests it sent (the same operations, in the same numbers, shaped the
same: 100-key verdict lookups, ledger lookups, 25-item ledger writes, tag reads and writes, the listing's
pages) are replayed shuffled by 32 plain threads through the same clients, with no engine logic: with the
latency picops saw right after its run, and without latency right before it (the previous round's mix: the
same arrangement sends the same requests; the first round's right after); the higher rate is that round's
ceiling and the denominator of picops's share. The older figure, the GetObjectTagging rate (the cheapest
request) from 32 callers, probed right before picops's run, is printed beside it for continuity; it flatters
the ceiling, since picops's mix also carries PutObjectTagging's XML body, batch lookups and writes, and
listing.
`--rounds` (default 3) alternates the two sides (naive first, then picops first, ...), each round on buckets
of its own; the ratio and the share (each paired within its round) are the median round's, with the range.
Since picops is bound by the emulator, its best possible ratio is the ceiling divided by its requests per
object and the naive loop's rate: printed beside the ratio.

Mix (default 1,000 objects): 60% with a verdict and untagged, 20% already tagged with their verdict, 20%
without a verdict; every fifth object carries other tags.

Steady state (the same bucket swept again once it is tagged): today's full pass (no tag ledger: one
GetObjectTagging per object with a verdict) against a pass with the ledger the first pass wrote (no S3
request for an object whose verdict and ETag/LastModified match its entry), both measured in this run, and
the hourly sweeper's steady state with its default verify slice (1/24 of the bucket read on S3 per cycle).
Primary figure: requests per object on the ledger pass (target <= 0.05).
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from picops.aws import ClientFactory
from picops.config import AwsSettings, Settings
from picops.core.tagging import (
    BackfillJob,
    BackfillRun,
    EngineOptions,
    RequestCounter,
    merge_tags,
    run_backfill,
    run_sweep,
)
from picops.local import free_port
from picops.stack import StackNames

TAG_KEY = "moderation-status"
STATUSES = ("approved", "flagged", "rejected")
TARGET_RATIO = 25.0
TARGET_REQUESTS_PER_OBJECT = 1.5
TARGET_CEILING_SHARE = 0.90
TARGET_STEADY_REQUESTS_PER_OBJECT = 0.05
# The engine's request shapes, as docs/moderation.md describes them, for the replay of its mix: lookups of
# one 100-key chunk, ledger writes of 25, a listing's first page of one chunk and then pages of 1,000, and
# ledger items under ("LEDGER#<bucket>/<key>", "TAG").
BATCH_SIZE = 100
BATCH_WRITE_SIZE = 25
FIRST_PAGE_SIZE, PAGE_SIZE = 100, 1000
LEDGER_SK = "TAG"
# The module `picops local up` runs: the emulator as picops's own local endpoint serves it.
SERVER_MODULE = "picops.local.server"


def ledger_pk(bucket: str, key: str) -> str:
    return f"LEDGER#{bucket}/{key}"


@dataclass
class Config:
    objects: int
    latency_s: float
    concurrency: int
    naive_sample: int
    ceiling_seconds: float
    rounds: int = 3


class InFlight:
    """Seconds between a request being made and its answer, summed over one run's clients: divided by the
    run's time, how many requests it kept in flight on average (at its concurrency, the emulator, not the
    engine, sets the pace)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()

    def start(self, context: dict[str, Any], **_: Any) -> None:
        context["bench_started"] = time.perf_counter()

    def end(self, context: dict[str, Any], **_: Any) -> None:
        began = context.pop("bench_started", None)
        if began is not None:
            with self._lock:
                self.seconds += time.perf_counter() - began


def _factory(url: str, latency_s: float) -> ClientFactory:
    factory = ClientFactory(AwsSettings(region="us-east-1", endpoint_url=url, max_attempts=3))
    factory.latency_s = latency_s  # type: ignore[attr-defined]
    factory.in_flight = InFlight()  # type: ignore[attr-defined]
    return factory


def _client(factory: ClientFactory, service: str, concurrency: int, latency_s: float) -> Any:
    client = factory.client(service, concurrency=concurrency)
    if latency_s > 0:

        def delay(**_: Any) -> None:
            time.sleep(latency_s)

        client.meta.events.register("before-send", delay, unique_id="bench-latency")
    flight = getattr(factory, "in_flight", None)
    if flight is not None:
        client.meta.events.register("before-call.*.*", flight.start, unique_id="bench-in-flight-start")
        client.meta.events.register("after-call.*.*", flight.end, unique_id="bench-in-flight-end")
    return client


def _arrange(factory: ClientFactory, stack: StackNames, buckets: dict[str, int], n: int) -> dict[str, str]:
    """Both tables, then each bucket with the first `buckets[name]` of the `n` keys (verdicts for all)."""
    s3 = factory.client("s3", concurrency=16)
    ddb = factory.client("dynamodb")
    ddb.create_table(
        TableName=stack.moderation_table,
        AttributeDefinitions=[{"AttributeName": "object_key", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "object_key", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    # JobsTable, where the tag ledger lives (as provision makes it).
    ddb.create_table(
        TableName=stack.jobs_table,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    rng = random.Random(7)
    keys = [f"incoming/{i:06d}-{rng.choice(['a', 'b c', 'd+e', 'ü'])}.jpg" for i in range(n)]
    verdicts: dict[str, str] = {}
    tagged: set[str] = set()
    for i, key in enumerate(keys):
        slot = i % 5  # 0-2: verdict, untagged (60%); 3: verdict, already tagged (20%); 4: no verdict (20%)
        if slot <= 3:
            verdicts[key] = STATUSES[i % 3]
        if slot == 3:
            tagged.add(key)

    def put(bucket: str, i: int, key: str) -> None:
        tags = {"owner": f"u{i % 4}"} if i % 5 == 1 or (i % 5 == 3 and i % 2) else {}
        if key in tagged:
            tags[TAG_KEY] = verdicts[key]
        tagging = "&".join(f"{k}={v}" for k, v in tags.items())
        s3.put_object(Bucket=bucket, Key=key, Body=b"x", Tagging=tagging)

    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
    with ThreadPoolExecutor(16) as pool:
        jobs = [(b, i, k) for b, size in buckets.items() for i, k in enumerate(keys[:size])]
        list(pool.map(lambda job: put(*job), jobs))
    items = list(verdicts.items())
    for start in range(0, len(items), 25):
        ddb.batch_write_item(
            RequestItems={
                stack.moderation_table: [
                    {"PutRequest": {"Item": {"object_key": {"S": k}, "status": {"S": v}}}}
                    for k, v in items[start : start + 25]
                ]
            }
        )
    return verdicts


def _naive(
    factory: ClientFactory, bucket: str, table: str, sample: int, latency_s: float
) -> tuple[int, int, float]:
    """The loop people write first: sequential, one object at a time. Returns (objects, requests, seconds)."""
    s3 = _client(factory, "s3", 1, latency_s)
    ddb = _client(factory, "dynamodb", 1, latency_s)
    requests = 0
    done = 0
    began = time.perf_counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="incoming/"):
        requests += 1
        for obj in page.get("Contents", []):
            if done >= sample:
                break
            key = obj["Key"]
            tags = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
            item = ddb.get_item(TableName=table, Key={"object_key": {"S": key}}).get("Item")
            requests += 2
            if item and "status" in item:
                decision = merge_tags(tags, TAG_KEY, item["status"]["S"])
                if decision.changed:
                    s3.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": decision.tags})
                    requests += 1
            done += 1
        if done >= sample:
            break
    return done, requests, time.perf_counter() - began


def _picops(
    factory: ClientFactory, stack: StackNames, bucket: str, cfg: Config, *, ledger: bool = True
) -> Any:
    # Clients are cached per (service, pool): install the latency hook on the ones the engine will use.
    _client(factory, "s3", cfg.concurrency, cfg.latency_s)
    _client(factory, "dynamodb", cfg.concurrency, cfg.latency_s)
    job = BackfillJob(
        table=stack.moderation_table,
        key_attribute="object_key",
        status_attribute="status",
        tag_key=TAG_KEY,
        statuses=STATUSES,
        bucket=bucket,
        prefix="incoming/",
        ledger_table=stack.jobs_table if ledger else None,
    )
    return run_backfill(factory, job, BackfillRun(concurrency=cfg.concurrency))


def _sweep_steady(url: str, stack: StackNames, bucket: str, cfg: Config) -> tuple[Any, int]:
    """One hourly-sweeper run over the tagged bucket with the default verify slice: (result, requests)."""
    factory = _factory(url, cfg.latency_s)
    s3 = _client(factory, "s3", cfg.concurrency, cfg.latency_s)
    ddb = _client(factory, "dynamodb", cfg.concurrency, cfg.latency_s)
    settings = Settings().moderation
    with RequestCounter().attach(s3, ddb) as counter:
        result = run_sweep(
            s3,
            ddb,
            bucket=bucket,
            prefix="incoming/",
            table=stack.moderation_table,
            options=EngineOptions(TAG_KEY, STATUSES, concurrency=cfg.concurrency),
            key_attribute="object_key",
            status_attribute="status",
            remaining_ms=lambda: 900_000,
            margin_s=15,
            ledger_table=stack.jobs_table,
            verify_fraction=settings.verify_fraction,
        )
        # The continuation object's read and write are per run, not per object: left out.
        requests = counter.total() - 2
    return result, requests


def _ceiling(
    factory: ClientFactory, bucket: str, keys: list[str], seconds: float, callers: int = 32
) -> float:
    """Requests/s the emulator serves to `callers` concurrent callers (no injected latency)."""
    s3 = factory.client("s3", concurrency=callers)
    stop = time.perf_counter() + seconds
    counts = [0] * callers

    def caller(i: int) -> None:
        rng = random.Random(i)
        while time.perf_counter() < stop:
            s3.get_object_tagging(Bucket=bucket, Key=rng.choice(keys))
            counts[i] += 1

    began = time.perf_counter()
    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - began)


@dataclass(frozen=True)
class MixTargets:
    """What the replay of picops's request mix works on: a bucket and verdicts of the run's size."""

    bucket: str
    keys: list[str]
    moderation_table: str
    jobs_table: str


def _replay_call(s3: Any, ddb: Any, targets: MixTargets, operation: str, n: int) -> None:
    """The `n`th replayed `operation`, shaped as the engine sends it (a new operation fails loudly)."""
    keys = targets.keys
    key = keys[(n * 7919) % len(keys)]
    if operation == "GetObjectTagging":
        s3.get_object_tagging(Bucket=targets.bucket, Key=key)
    elif operation == "PutObjectTagging":
        tags = [{"Key": TAG_KEY, "Value": STATUSES[n % 3]}]
        if n % 5 == 1:  # every fifth object carries other tags, kept by the merge
            tags.append({"Key": "owner", "Value": "u1"})
        s3.put_object_tagging(Bucket=targets.bucket, Key=key, Tagging={"TagSet": tags})
    elif operation == "ListObjectsV2":
        # The engine's listing: a first page of one lookup chunk, then full pages.
        more = {"StartAfter": keys[FIRST_PAGE_SIZE - 1], "MaxKeys": PAGE_SIZE} if n % 2 else {}
        s3.list_objects_v2(**{"Bucket": targets.bucket, "MaxKeys": FIRST_PAGE_SIZE, **more})
    elif operation == "BatchGetItem":
        # Verdict lookups (a chunk's keys) and ledger lookups (its objects with a verdict) alternate.
        size = min(BATCH_SIZE, len(keys))  # DynamoDB refuses a key twice in one request
        chunk = [keys[(n * size + i) % len(keys)] for i in range(size)]
        if n % 2:
            wanted = [{"pk": {"S": ledger_pk(targets.bucket, k)}, "sk": {"S": LEDGER_SK}} for k in chunk]
            request = {targets.jobs_table: {"Keys": wanted[: size * 4 // 5]}}
        else:
            request = {targets.moderation_table: {"Keys": [{"object_key": {"S": k}} for k in chunk]}}
        ddb.batch_get_item(RequestItems=request)
    elif operation == "BatchWriteItem":
        items = [
            {"pk": {"S": ledger_pk(targets.bucket, keys[(n * BATCH_WRITE_SIZE + i) % len(keys)])}}
            | {"sk": {"S": LEDGER_SK}, "verdict": {"S": "approved"}, "tag_key": {"S": TAG_KEY}}
            | {"etag": {"S": '"0cc175b9c0f1b6a831c399e269772661"'}, "last_modified": {"S": "2026-01-01"}}
            for i in range(BATCH_WRITE_SIZE)
        ]
        ddb.batch_write_item(RequestItems={targets.jobs_table: [{"PutRequest": {"Item": i}} for i in items]})
    else:
        raise ValueError(f"the mix replay does not know {operation}: shape it in _replay_call")


def _mix_ceiling(
    factory: ClientFactory, targets: MixTargets, mix: dict[str, int], latency_s: float, callers: int = 32
) -> float:
    """Requests/s the emulator serves for `mix` (operation -> count, replayed whole and shuffled) to
    `callers` plain threads through clients like the engine's: the ceiling for picops's own requests."""
    s3 = _client(factory, "s3", callers, latency_s)
    ddb = _client(factory, "dynamodb", callers, latency_s)
    calls = [(op, n) for op, count in sorted(mix.items()) for n in range(count)]
    random.Random(11).shuffle(calls)
    queue = iter(calls)
    lock = threading.Lock()
    failures: list[BaseException] = []

    def caller() -> None:
        while not failures:
            with lock:
                call = next(queue, None)
            if call is None:
                return
            try:
                _replay_call(s3, ddb, targets, *call)
            except Exception as exc:  # a replay that fails would measure the wrong thing: stop and say so
                failures.append(exc)

    began = time.perf_counter()
    threads = [threading.Thread(target=caller) for _ in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    return len(calls) / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.tag_backfill", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--naive-sample",
        type=int,
        default=200,
        help="time the naive loop on this many objects per round (its per-object cost is constant)",
    )
    parser.add_argument("--ceiling-seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.smoke:
        cfg = Config(60, 0.005, 8, 15, 0.5, rounds=1)
    else:
        sample = min(args.naive_sample, args.objects)
        cfg = Config(
            args.objects, args.latency_ms / 1000, args.concurrency, sample, args.ceiling_seconds, args.rounds
        )

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", SERVER_MODULE, "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_up(url, server)
        return _run(url, cfg)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_up(url: str, server: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the emulator exited during start-up (code {server.returncode})")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/config", timeout=1.0):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the emulator did not answer at {url} within {timeout:.0f} s")


@dataclass
class Round:
    naive_rate: float
    naive_per_object: float
    picops_rate: float
    picops_req_rate: float
    summary: Any
    ceiling: float  # the mix's: picops's own requests replayed by plain threads
    probes: tuple[float, float]  # the mix replayed with latency (after the run), without (before it)
    get_tagging_ceiling: float  # GetObjectTagging only, for continuity with earlier figures
    in_flight: float  # requests picops kept in flight on average


def _round(
    url: str,
    stack: StackNames,
    cfg: Config,
    r: int,
    keys: list[str],
    targets: MixTargets,
    prior_mix: dict[str, int] | None,
) -> Round:
    naive_bucket, picops_bucket = f"{stack.uploads_bucket}-naive-{r}", f"{stack.uploads_bucket}-{r}"

    def naive() -> tuple[int, int, float]:
        return _naive(
            _factory(url, cfg.latency_s),
            naive_bucket,
            stack.moderation_table,
            cfg.naive_sample,
            cfg.latency_s,
        )

    probes: list[float] = []
    flights: list[float] = []

    def picops() -> Any:
        plain = ClientFactory(AwsSettings(region="us-east-1", endpoint_url=url))
        probes.append(_ceiling(plain, naive_bucket, keys, cfg.ceiling_seconds))
        # The mix's ceiling brackets the run where it can: without latency before it (the previous round's
        # mix: the same arrangement sends the same requests), with the latency picops saw after it; the
        # machine's load drifts. The higher rate is the ceiling.
        before = _mix_ceiling(plain, targets, prior_mix, 0.0) if prior_mix else None
        factory = _factory(url, cfg.latency_s)
        summary = _picops(factory, stack, picops_bucket, cfg)
        flights.append(factory.in_flight.seconds / summary.elapsed_s)  # type: ignore[attr-defined]
        mix = dict(summary.requests)
        probes.append(_mix_ceiling(_factory(url, cfg.latency_s), targets, mix, cfg.latency_s))
        probes.append(before if before is not None else _mix_ceiling(plain, targets, mix, 0.0))
        return summary

    # Alternating which side goes first: a machine that slows down or speeds up favours neither.
    if r % 2 == 0:
        (n_naive, req_naive, t_naive), summary = naive(), picops()
    else:
        summary = picops()
        n_naive, req_naive, t_naive = naive()
    requests = sum(summary.requests.values())
    return Round(
        n_naive / t_naive,
        req_naive / n_naive,
        summary.counts.scanned / summary.elapsed_s,
        requests / summary.elapsed_s,
        summary,
        max(probes[1:]),
        (probes[1], probes[2]),
        probes[0],
        flights[0],
    )


def _spread(values: list[float], fmt: str = "{:.1f}") -> str:
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return f"{fmt.format(statistics.median(values))} (range {low}-{high})"


def _run(url: str, cfg: Config) -> int:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    setup = ClientFactory(AwsSettings(region="us-east-1", endpoint_url=url))
    stack = StackNames(Settings(), setup.account_id(), setup.region)
    buckets: dict[str, int] = {}
    for r in range(cfg.rounds):
        buckets[f"{stack.uploads_bucket}-naive-{r}"] = cfg.naive_sample
        buckets[f"{stack.uploads_bucket}-{r}"] = cfg.objects
    buckets[f"{stack.uploads_bucket}-ceiling"] = cfg.objects
    began = time.perf_counter()
    _arrange(setup, stack, buckets, cfg.objects)
    print(
        f"arranged {cfg.rounds} round(s) of {cfg.objects} objects (+{cfg.naive_sample} for the naive loop) "
        "in "
        f"{time.perf_counter() - began:.1f} s; latency {cfg.latency_s * 1000:.0f} ms/request, "
        f"concurrency {cfg.concurrency}",
        flush=True,
    )
    listed = setup.client("s3").list_objects_v2(Bucket=f"{stack.uploads_bucket}-naive-0")["Contents"]
    keys = [o["Key"] for o in listed][:200]
    ceiling_bucket = f"{stack.uploads_bucket}-ceiling"
    listed = setup.client("s3").list_objects_v2(Bucket=ceiling_bucket)["Contents"]
    targets = MixTargets(ceiling_bucket, [o["Key"] for o in listed], stack.moderation_table, stack.jobs_table)
    rounds: list[Round] = []
    for r in range(cfg.rounds):
        prior = dict(rounds[-1].summary.requests) if rounds else None
        rounds.append(_round(url, stack, cfg, r, keys, targets, prior))
    checks = _report(rounds, cfg)
    checks += _steady_state(url, stack, f"{stack.uploads_bucket}-{cfg.rounds - 1}", cfg)
    for name, ok in checks:
        print(f"{'PASS' if ok else 'MISS'}: {name}")
    return 0


def _report(rounds: list[Round], cfg: Config) -> list[tuple[str, bool]]:
    last = rounds[-1].summary
    per_object = sum(last.requests.values()) / last.counts.scanned
    ratios = [r.picops_rate / r.naive_rate for r in rounds]
    shares = [r.picops_req_rate / r.ceiling for r in rounds]
    allowed = [r.ceiling / per_object / r.naive_rate for r in rounds]
    latency = cfg.latency_s
    print(f"medians of {len(rounds)} round(s), range lowest-highest:")
    print(
        f"baseline (naive sequential loop): {_spread([r.naive_rate for r in rounds])} objects/s "
        f"({cfg.naive_sample} objects timed per round, {rounds[-1].naive_per_object:.2f} requests/object)"
    )
    print(
        f"picops (engine, concurrency {cfg.concurrency}): {_spread([r.picops_rate for r in rounds])} "
        f"objects/s ({last.counts.scanned} objects per round; {last.counts.as_dict()})"
    )
    print(f"requests: {last.requests} = {per_object:.3f} per scanned object")
    print(
        f"ratio: {_spread(ratios)}x the naive loop; at 100% of its round's ceiling it could be "
        f"{_spread(allowed)}x (ceiling / requests per object / naive rate)"
    )
    probes = ", ".join(f"{a:,.0f}/{b:,.0f}" for a, b in (r.probes for r in rounds))
    print(
        f"emulator ceiling for picops's own request mix: {_spread([r.ceiling for r in rounds], '{:,.0f}')} "
        f"requests/s from 32 plain threads (per round, with {latency * 1000:.0f} ms after picops's run/"
        f"without before it, the first round's after it: {probes}); "
        f"picops drove {_spread([r.picops_req_rate for r in rounds], '{:,.0f}')} requests/s = "
        f"{_spread([100 * s for s in shares], '{:.0f}')}% of its round's ceiling"
    )
    got = [r.get_tagging_ceiling for r in rounds]
    got_shares = [100 * r.picops_req_rate / r.get_tagging_ceiling for r in rounds]
    print(
        f"GetObjectTagging-only ceiling (32 callers, the earlier denominator): {_spread(got, '{:,.0f}')} "
        f"requests/s; picops's share of it {_spread(got_shares, '{:.0f}')}%"
    )
    print(
        f"picops kept {_spread([r.in_flight for r in rounds])} requests in flight on average at concurrency "
        f"{cfg.concurrency} (the ceiling's callers: 32)"
    )
    print(
        f"modelled at {latency * 1000:.0f} ms/request with an unlimited server: naive "
        f"{1 / (rounds[-1].naive_per_object * latency):,.1f} objects/s, picops "
        f"{cfg.concurrency / (per_object * latency):,.0f} objects/s"
    )
    return [
        (f"ratio >= {TARGET_RATIO:.0f}x", statistics.median(ratios) >= TARGET_RATIO),
        (f"requests/object <= {TARGET_REQUESTS_PER_OBJECT}", per_object <= TARGET_REQUESTS_PER_OBJECT),
        (
            f"share of emulator ceiling >= {TARGET_CEILING_SHARE:.0%}",
            statistics.median(shares) >= TARGET_CEILING_SHARE,
        ),
    ]


LOOKAHEAD = 4  # chunks whose lookups the engine keeps in flight (picops.core.tagging.engine)


def _modelled_rate(summary: Any, latency: float, concurrency: int) -> float:
    r = summary.requests
    lookups = r.get("BatchGetItem", 0) + r.get("BatchWriteItem", 0)
    tags = r.get("GetObjectTagging", 0) + r.get("PutObjectTagging", 0)
    seconds = latency * (r.get("ListObjectsV2", 0) + lookups / LOOKAHEAD + tags / concurrency)
    return float(summary.counts.scanned / seconds)


def _steady_state(url: str, stack: StackNames, bucket: str, cfg: Config) -> list[tuple[str, bool]]:
    """The bucket picops just tagged, swept again: today's full pass, then the ledger's pass."""
    full = _picops(_factory(url, cfg.latency_s), stack, bucket, cfg, ledger=False)
    steady = _picops(_factory(url, cfg.latency_s), stack, bucket, cfg)
    full_rate = full.counts.scanned / full.elapsed_s
    steady_rate = steady.counts.scanned / steady.elapsed_s
    full_per_object = sum(full.requests.values()) / full.counts.scanned
    steady_per_object = sum(steady.requests.values()) / steady.counts.scanned
    sweep, sweep_requests = _sweep_steady(url, stack, bucket, cfg)
    sweep_per_object = sweep_requests / max(1, sweep.counts.scanned)
    latency = cfg.latency_s
    print("steady state (the tagged bucket swept again):")
    print(
        f"  baseline (today's full pass, no ledger): {full_rate:,.1f} objects/s, "
        f"{full_per_object:.3f} requests/object {full.requests}"
    )
    print(
        f"  picops (tag ledger): {steady_rate:,.1f} objects/s, {steady_per_object:.3f} requests/object "
        f"{steady.requests}; skipped by ledger {steady.counts.skipped_by_ledger} of {steady.counts.scanned}"
    )
    print(f"  ratio: {steady_rate / full_rate:.1f}x today's full pass's objects/s")
    print(
        f"  hourly sweeper with verify slice {sweep.verify_slice}: {sweep_per_object:.3f} requests/object "
        f"(skipped {sweep.counts.skipped_by_ledger} of {sweep.counts.scanned})"
    )
    if latency > 0:
        print(
            f"  modelled at {latency * 1000:.0f} ms/request, unlimited server (listing pages in sequence, "
            f"lookups {LOOKAHEAD} chunks at a time, tag requests {cfg.concurrency} at a time): full pass "
            f"{_modelled_rate(full, latency, cfg.concurrency):,.0f} objects/s, ledger pass "
            f"{_modelled_rate(steady, latency, cfg.concurrency):,.0f} objects/s"
        )
    return [
        (
            f"steady-state requests/object <= {TARGET_STEADY_REQUESTS_PER_OBJECT}",
            steady_per_object <= TARGET_STEADY_REQUESTS_PER_OBJECT,
        ),
        ("steady state faster than today's full pass", steady_rate > full_rate),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
