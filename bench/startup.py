"""Benchmark: start-up time of the CLI and the Lambda handlers, each against its baseline, in fresh processes.

- CLI: `picops --version`, `picops --help` and `picops dlq --help` against `aws --version` (AWS CLI v1,
  installed in the benchmark's own virtualenv under .bench/awscli so the comparison does not depend on the
  machine). Target: each <= 1.0x.
- Handlers: what any such Lambda imports anyway (`import boto3`, plus Pillow for ingest) followed by
  `import picops.handlers.<module>`, against the baseline alone, both in the environment Lambda's runtime
  sets (LAMBDA_ENV, with tracing off as picops provisions it). Target: each <= 1.3x. The same imports
  with tracing on are printed too, for information.

Rounds alternate baseline and picops (A/B, so drift in machine load hits both alike); the figures are medians
with the range. Wall time of a whole process is what a user waits for, so that is what is measured.

    python -m bench.startup [--rounds 15] [--smoke] [--handlers] [--cpu]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AWSCLI_VENV = ROOT / ".bench" / "awscli"
# Bytecode for every module both sides import, written by the warm-up run: installed packages come with
# theirs, and a source tree without its own (PYTHONDONTWRITEBYTECODE, a read-only checkout) would be timed
# compiling itself while the baseline is not.
PYCACHE = ROOT / ".bench" / "pycache"
CLI_TARGET = 1.0
HANDLER_TARGET = 1.3


@dataclass(frozen=True)
class Case:
    name: str
    baseline_name: str
    picops: list[str]
    baseline: list[str]
    target: float
    env: dict[str, str] | None = None  # set for both sides, on top of this process's environment
    judged: bool = True  # False: printed for information, its target not counted


# What Lambda's Python runtime sets before it imports a handler. Libraries branch on it at import time: the
# X-Ray SDK (Powertools' Tracer) builds two botocore clients for its sampling poller outside Lambda, and only
# a local sampler inside it, so without these a handler's import is timed as it never runs.
LAMBDA_ENV = {
    "LAMBDA_TASK_ROOT": "/var/task",
    "AWS_LAMBDA_FUNCTION_NAME": "picops-bench",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    # What picops provisions by default (`[observability] tracing = false`): the handlers then never import
    # the X-Ray SDK (picops.handlers._tracing). TRACING_ON measures them with tracing on as well.
    "POWERTOOLS_TRACE_DISABLED": "true",
}
TRACING_ON = {**LAMBDA_ENV, "POWERTOOLS_TRACE_DISABLED": "false"}


def _python_case(name: str, statement: str, baseline: str, baseline_name: str, tracing: bool = False) -> Case:
    # The handler's side imports the baseline too: a handler that defers boto3 to its first client still
    # loads it in its cold start, so only what picops adds on top is compared.
    return Case(
        f"{name} (tracing on)" if tracing else name,
        baseline_name,
        [sys.executable, "-c", f"{baseline}; {statement}"],
        [sys.executable, "-c", baseline],
        HANDLER_TARGET,
        TRACING_ON if tracing else LAMBDA_ENV,
        judged=not tracing,
    )


def aws_cli() -> list[str] | None:
    """The AWS CLI v1 of the benchmark's own virtualenv, installed on first use (None when it cannot be)."""
    aws = AWSCLI_VENV / "bin" / "aws"
    if not aws.exists():
        print(f"installing AWS CLI v1 into {AWSCLI_VENV} (once) ...", flush=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(AWSCLI_VENV)], check=True)
            pip = [str(AWSCLI_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "awscli"]
            subprocess.run(pip, check=True, timeout=600, capture_output=True)
        except (subprocess.SubprocessError, OSError) as exc:
            print(f"AWS CLI baseline unavailable: {exc}", flush=True)
            shutil.rmtree(AWSCLI_VENV, ignore_errors=True)
            return None
    return [str(aws), "--version"]


def cases(handlers_only: bool = False) -> list[Case]:
    picops = [sys.executable, "-m", "picops"]
    found: list[Case] = []
    aws = None if handlers_only else aws_cli()
    if aws is not None:
        for args in (["--version"], ["--help"], ["dlq", "--help"]):
            found.append(Case(f"picops {' '.join(args)}", "aws --version", [*picops, *args], aws, CLI_TARGET))
    # Tracing on is an opt-in that costs the X-Ray SDK's import: shown, not judged against the target.
    for tracing in (False, True):
        found.append(
            _python_case(
                "+ import picops.handlers.ingest",
                "import picops.handlers.ingest",
                "import boto3; from PIL import Image",
                "boto3 + PIL",
                tracing,
            )
        )
        for module in ("bookings", "moderation"):
            found.append(
                _python_case(
                    f"+ import picops.handlers.{module}",
                    f"import picops.handlers.{module}",
                    "import boto3",
                    "boto3",
                    tracing,
                )
            )
    return found


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _seconds(command: list[str], cpu: bool = False, extra: dict[str, str] | None = None) -> float:
    """Wall time of the whole process, or (`cpu`) its user+sys CPU time: on a machine shared with other
    work the CPU time moves far less with the load, though it leaves out waiting for the disk."""
    env = {**os.environ, "COLUMNS": "100", "PYTHONPYCACHEPREFIX": str(PYCACHE), **(extra or {})}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    clock = _children_cpu if cpu else time.perf_counter
    start = clock()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return clock() - start


def measure(case: Case, rounds: int, cpu: bool = False) -> tuple[list[float], list[float]]:
    _seconds(case.baseline, extra=case.env)  # warm the page cache and .pyc files for both sides first
    _seconds(case.picops, extra=case.env)
    base: list[float] = []
    ours: list[float] = []
    for _ in range(rounds):
        base.append(_seconds(case.baseline, cpu, case.env))
        ours.append(_seconds(case.picops, cpu, case.env))
    return base, ours


def _figure(seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return f"{statistics.median(ms):6.0f} ms ({min(ms):.0f}-{max(ms):.0f})"


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.startup")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--smoke", action="store_true", help="2 rounds, for CI")
    parser.add_argument("--handlers", action="store_true", help="the handler imports only (no AWS CLI)")
    parser.add_argument("--cpu", action="store_true", help="CPU time (user+sys) instead of wall time")
    args = parser.parse_args()
    rounds = 2 if args.smoke else args.rounds
    missed = 0
    what = "CPU time" if args.cpu else "wall time"
    print(f"start-up, {rounds} alternating rounds, {what}, medians (range)")
    for case in cases(args.handlers):
        base, ours = measure(case, rounds, args.cpu)
        ratio = statistics.median(ours) / statistics.median(base)
        ok = ratio <= case.target
        missed += int(case.judged and not ok)
        verdict = ("ok" if ok else "MISSED") if case.judged else "(informative)"
        print(
            f"{case.name:48} {_figure(ours)}  vs {case.baseline_name} {_figure(base)}  ratio {ratio:.2f}x"
            f"  target <= {case.target:.1f}x {verdict}",
            flush=True,
        )
    # Smoke runs prove the benchmark works; the targets are judged on full runs on a quiet machine.
    return 0 if args.smoke or not missed else 1


if __name__ == "__main__":
    sys.exit(main())
