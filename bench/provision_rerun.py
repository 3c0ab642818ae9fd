"""Benchmark: re-running `provision` on a converged stack.

Baseline (named, measured in the same run): a deployer that does not diff live state and re-sends every
resource's desired configuration on each run (the approach of Chalice's deployer and of most scripted
`aws ... put-*` set-ups), driven by picops's own executor with every resource forced to `update`. It makes
the same lookups picops makes (it needs queue URLs, API and mapping ids), so the difference in requests is
exactly the mutating calls; Lambda code/configuration is left to deploy's own diff in both (flattering the
baseline).
picops: plan (describe/list only) and apply nothing. Both run against the embedded moto server.

Reported per run: requests in total, mutating requests, wall time, and a modelled time at a stated per-request
latency (sequential calls; on moto the emulator's own cost dominates wall time, so requests are the primary
figure).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

READS = ("Get", "List", "Describe", "Head", "Scan", "Query")
MODEL_LATENCY_S = 0.05  # a typical AWS API round trip from a laptop or CI runner


class Counted:
    def __init__(self) -> None:
        self.ops: Counter[str] = Counter()

    def hook(self, model: Any, **_: Any) -> None:
        self.ops[model.name] += 1

    @property
    def total(self) -> int:
        return sum(self.ops.values())

    @property
    def mutating(self) -> int:
        return sum(n for op, n in self.ops.items() if not op.startswith(READS))


def _factory(endpoint: str, counter: Counted) -> Any:
    from picops.aws import ClientFactory
    from picops.config import AwsSettings

    class CountingFactory(ClientFactory):
        def client(self, service: str, *, concurrency: int = 10) -> Any:
            made = super().client(service, concurrency=concurrency)
            made.meta.events.register("before-call.*.*", counter.hook, unique_id="bench-count")
            return made

    return CountingFactory(AwsSettings(region="us-east-1", endpoint_url=endpoint))


def _forced(change: Any, change_type: Any) -> Any:
    """The baseline re-sends each resource's configuration. Tables get only what is safe to re-send blindly
    (re-sending a stream specification to a table that has one is an error on DynamoDB)."""
    from picops.stack import HttpApi, Table

    fields = {k: {} for k in change.resource.desired()}
    if isinstance(change.resource, HttpApi):
        fields = {}  # moto's UpdateStage fails on the `$default` stage; an API has nothing else to re-send
    elif isinstance(change.resource, Table):
        fields = {"PointInTimeRecovery": {}} if change.resource.point_in_time_recovery else {}
    return change_type(change.resource, "update", fields, change.live)


def _run(endpoint: str, settings: Any, *, force: bool) -> tuple[Counted, float, list[str]]:
    from picops.provision import Change, Executor, Plan, build_bundle, context_for, make_plan

    counter = Counted()
    began = time.perf_counter()
    plan = make_plan(context_for(settings, _factory(endpoint, counter)))
    if force:
        forced = [_forced(c, Change) if c.action == "noop" else c for c in plan.changes]
        plan = Plan(plan.ctx, forced)
    applied = Executor(plan, settings, lambda: build_bundle(settings)).run()
    return counter, time.perf_counter() - began, [c.logical for c in applied]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.provision_rerun", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="one repetition")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    repeat = 1 if args.smoke else args.repeat

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    from moto.server import ThreadedMotoServer

    from picops.config import load_settings
    from picops.local import free_port, install_extensions

    install_extensions()  # what the embedded endpoint adds to moto (the stack's saved queries among them)
    port = free_port()
    # The emulator's access log (one line per request) would bury the figures.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(
                overrides={
                    "aws": {"endpoint_url": endpoint, "region": "us-east-1"},
                    "deploy": {"cache_dir": str(Path(tmp) / "cache"), "dependency_source": "environment"},
                },
                use_files=False,
            )
            created, create_s, made = _run(endpoint, settings, force=False)
            resources = len(made)
            print(
                f"first provision: {resources} resources, {created.total} requests "
                f"({created.mutating} mutating), {create_s:.2f}s"
            )
            base: list[tuple[Counted, float]] = []
            ours: list[tuple[Counted, float]] = []
            for _ in range(repeat):
                counter, seconds, _n = _run(endpoint, settings, force=True)
                base.append((counter, seconds))
                counter, seconds, names = _run(endpoint, settings, force=False)
                assert not names, f"picops re-run applied changes on a converged stack: {names}"
                ours.append((counter, seconds))
    finally:
        server.stop()

    def summary(runs: list[tuple[Counted, float]]) -> tuple[int, int, float]:
        return runs[-1][0].total, runs[-1][0].mutating, statistics.median(s for _c, s in runs)

    b_total, b_mut, b_s = summary(base)
    p_total, p_mut, p_s = summary(ours)
    per = resources or 1
    print(f"converged re-run of a {per}-resource stack (median of {repeat}):")
    print(
        f"  baseline (re-send every resource, no diff): {b_total} requests ({b_mut} mutating, "
        f"{b_total / per:.2f}/resource), {b_s:.2f}s measured, {b_total * MODEL_LATENCY_S:.1f}s modelled "
        f"at {MODEL_LATENCY_S * 1000:.0f} ms/request"
    )
    print(
        f"  picops (plan, apply nothing):               {p_total} requests ({p_mut} mutating, "
        f"{p_total / per:.2f}/resource), {p_s:.2f}s measured, {p_total * MODEL_LATENCY_S:.1f}s modelled"
    )
    ratio = b_total / p_total if p_total else float("inf")
    print(
        f"  ratio: baseline/picops requests {ratio:.2f}x; mutating {b_mut} vs {p_mut}; "
        f"wall {b_s / p_s if p_s else float('inf'):.2f}x"
    )
    print(f"  target: zero mutating requests on a converged re-run: {'PASS' if p_mut == 0 else 'MISS'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
