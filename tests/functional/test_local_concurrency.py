"""The local runtime's concurrency and timeouts as Lambda enforces them (docs/local.md), against mock_aws.

The handlers run through the real Invoker: its environment lease, reserved-concurrency throttle and
deadline are what is under test.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import replace
from typing import Any

from picops.local.invoke import FunctionTarget, Invoker
from picops.local.mappings import MappingRecord
from picops.local.sqs_source import SqsSource
from picops.local.stats import MappingStats
from tests.local_support import queue_counts

TARGET = FunctionTarget("IngestFunction", "picops-ingest", "tests.fake.handler", arn="arn:aws:lambda:x")


class Tracker:
    """A handler that waits on "I/O" and records how many of its invocations overlapped."""

    def __init__(self, wait_s: float = 0.15) -> None:
        self.wait_s = wait_s
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.bodies: list[str] = []
        self.groups_running: Counter[str] = Counter()
        self.group_overlap = False

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        groups = {r["attributes"].get("MessageGroupId", "") for r in event["Records"]}
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            for g in groups:
                self.groups_running[g] += 1
                self.group_overlap |= bool(g) and self.groups_running[g] > 1
        time.sleep(self.wait_s)
        with self.lock:
            self.running -= 1
            for g in groups:
                self.groups_running[g] -= 1
            self.bodies += [r["body"] for r in event["Records"]]
        return {"batchItemFailures": []}


def _mapping(arn: str, logical: str = "TestMapping", **kw: Any) -> MappingRecord:
    base: dict[str, Any] = {
        "logical": logical,
        "function": "IngestFunction",
        "function_name": "picops-ingest",
        "handler": "tests.fake.handler",
        "source": "TestSource",
        "source_arn": arn,
        "batch_size": 1,
        "report_failures": True,
    }
    base.update(kw)
    return MappingRecord(**base)


def _queue(aws: Any, name: str, **attrs: str) -> tuple[str, str]:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _source(
    aws: Any, invoker: Invoker, mapping: MappingRecord, handler: Any, target: FunctionTarget = TARGET
) -> SqsSource:
    stats = MappingStats(mapping.logical, mapping.source, mapping.handler)
    return SqsSource(aws.client("sqs"), mapping, target, handler, invoker.invoke, stats, lambda _: None)


def _pump(sources: list[SqsSource], want: int, tracker: Tracker, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(tracker.bodies) < want:
        assert time.monotonic() < deadline, f"handled {len(tracker.bodies)} of {want}"
        for source in sources:
            source.poll(0)
    for source in sources:
        source.wait_idle()
        source.close()


def _invoker() -> Invoker:
    return Invoker(endpoint_url="http://127.0.0.1:1", region="us-east-1")


def test_a_mapping_runs_up_to_its_maximum_concurrency_and_no_more(aws: Any) -> None:
    url, arn = _queue(aws, "wide")
    for i in range(12):
        aws.client("sqs").send_message(QueueUrl=url, MessageBody=f"m{i}")
    tracker, invoker = Tracker(), _invoker()
    source = _source(aws, invoker, _mapping(arn, max_concurrency=3), tracker)
    _pump([source], 12, tracker)
    assert tracker.peak == 3
    assert source.stats.max_concurrent == 3
    assert invoker.lease.peak == 3
    assert sorted(tracker.bodies) == sorted(f"m{i}" for i in range(12))
    assert queue_counts(aws, url) == (0, 0)


def test_a_fifo_mapping_runs_groups_in_parallel_one_batch_per_group_in_order(aws: Any) -> None:
    url, arn = _queue(aws, "seats.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    sent = [(f"g{g}", f"g{g}-{i}") for i in range(4) for g in range(3)]
    for group, body in sent:
        aws.client("sqs").send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
    tracker, invoker = Tracker(0.1), _invoker()
    source = _source(aws, invoker, _mapping(arn, max_concurrency=5), tracker)
    _pump([source], len(sent), tracker)
    assert tracker.peak > 1  # groups in parallel
    assert not tracker.group_overlap  # never two batches of one group at once
    for g in range(3):
        assert [b for b in tracker.bodies if b.startswith(f"g{g}-")] == [f"g{g}-{i}" for i in range(4)]


def test_reserved_concurrency_caps_the_function_across_mappings_and_throttles(aws: Any) -> None:
    urls = [_queue(aws, f"q{k}") for k in range(2)]
    for k, (url, _) in enumerate(urls):
        for i in range(6):
            aws.client("sqs").send_message(QueueUrl=url, MessageBody=f"q{k}-{i}")
    tracker, invoker = Tracker(0.1), _invoker()
    capped = replace(TARGET, reserved_concurrency=1)
    sources = [
        _source(aws, invoker, _mapping(arn, f"M{k}", max_concurrency=3), tracker, capped)
        for k, (_, arn) in enumerate(urls)
    ]
    _pump(sources, 12, tracker)
    assert tracker.peak == 1
    assert invoker.lease.peak_by_function["IngestFunction"] == 1
    assert sum(s.stats.throttles for s in sources) > 0
    # Throttled batches went back to their queue and were handled once each, none lost.
    assert sorted(tracker.bodies) == sorted(f"q{k}-{i}" for k in range(2) for i in range(6))
    assert [queue_counts(aws, url) for url, _ in urls] == [(0, 0), (0, 0)]


def test_a_handler_past_its_timeout_is_stopped_and_its_message_retried(aws: Any) -> None:
    url, arn = _queue(aws, "slow", VisibilityTimeout="600")
    aws.client("sqs").send_message(QueueUrl=url, MessageBody="slow")
    finished: list[bool] = []
    remaining: list[int] = []

    def sleeper(event: dict[str, Any], context: Any) -> None:
        remaining.append(context.get_remaining_time_in_millis())
        if event["Records"][0]["attributes"]["ApproximateReceiveCount"] != "1":
            return  # the retry is quick
        for _ in range(30):
            time.sleep(0.1)
        finished.append(True)

    invoker = _invoker()
    source = _source(aws, invoker, _mapping(arn), sleeper, replace(TARGET, timeout_s=1))
    began = time.monotonic()
    assert source.poll(0) == (1, 1)
    assert time.monotonic() - began < 2.0  # answered at the deadline, not after the handler's 3 s
    assert 0 < remaining[0] <= 1000
    assert source.stats.timeouts == 1
    time.sleep(2.5)
    assert finished == []  # stopped, not merely abandoned
    # Given back at once despite the 600 s visibility timeout: the retry sees it.
    assert queue_counts(aws, url) == (1, 0)
    assert source.poll(0) == (1, 0)  # the same message again, now a redelivery
    assert queue_counts(aws, url) == (0, 0)


def test_two_functions_never_run_at_once_in_one_process() -> None:
    invoker = _invoker()
    active: list[str] = []
    overlap: list[tuple[str, str]] = []
    lock = threading.Lock()

    def handler_for(name: str) -> Any:
        def handler(event: Any, context: Any) -> None:
            with lock:
                overlap.extend((name, other) for other in active if other != name)
                active.append(name)
            time.sleep(0.02)
            with lock:
                active.remove(name)

        return handler

    targets = [replace(TARGET, logical=n, name=n) for n in ("A", "B")]
    threads = [
        threading.Thread(target=lambda t=t: [invoker.invoke(t, handler_for(t.logical), {}) for _ in range(5)])
        for t in targets
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlap == []
    assert invoker.lease.peak_by_function["A"] > 1 or invoker.lease.peak_by_function["B"] > 1


def test_under_faults_every_message_is_handled_and_each_fault_counted(aws: Any) -> None:
    from picops.local.faults import Faults, parse_faults

    url, arn = _queue(aws, "faulty", VisibilityTimeout="600")
    for i in range(40):
        aws.client("sqs").send_message(QueueUrl=url, MessageBody=f"m{i}")
    tracker, invoker = Tracker(0.01), _invoker()
    source = _source(aws, invoker, _mapping(arn, max_concurrency=3, batch_size=2), tracker)
    source.faults = Faults(parse_faults("duplicate=0.2,crash=0.2,throttle=0.2,reorder=0.5", seed=7))
    deadline = time.monotonic() + 30
    while queue_counts(aws, url) != (0, 0) or source.busy:
        assert time.monotonic() < deadline, queue_counts(aws, url)
        source.poll(0)
    source.close()
    drawn = source.faults.as_dict()
    stats = source.stats
    assert (stats.crashes, stats.duplicates, stats.throttles) == (
        drawn.get("crash", 0),
        drawn.get("duplicate", 0),
        drawn.get("throttle", 0),
    )
    assert min(stats.crashes, stats.duplicates, stats.throttles, stats.retries) > 0
    # At least once: every message handled, some more than once (crashes and duplicates ran the handler).
    assert set(tracker.bodies) == {f"m{i}" for i in range(40)}
    assert len(tracker.bodies) > 40
