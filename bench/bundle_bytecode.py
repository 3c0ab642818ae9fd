"""Benchmark: a handler's cold import from the Lambda bundle, with the bundle's bytecode against without it.

Lambda unzips the bundle into a read-only /var/task, so a module without its `__pycache__` pyc is compiled
on every cold start and the result thrown away. The bundle builder ships unchecked-hash pycs when the
building Python is the runtime's (picops/provision/bundle.py, "Bytecode"). This builds one bundle for this
interpreter, unzips it twice (as built, and with every pyc removed), makes both trees read-only, and times a
fresh process importing each handler module from each tree: only the bundle and the runtime-provided
packages (boto3 and its family, symlinked from this environment, as Lambda's /var/runtime provides them
compiled) on sys.path. Rounds alternate the two trees; the figures are medians with the range.

    python -m bench.bundle_bytecode [--rounds 9] [--smoke]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from picops.config import Settings
from picops.provision import build_bundle

HANDLERS = ("picops.handlers.ingest", "picops.handlers.bookings", "picops.handlers.moderation")
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six")
# Lambda's environment: libraries branch on it at import (bench/startup.py says why).
LAMBDA_ENV = {
    "LAMBDA_TASK_ROOT": "/var/task",
    "AWS_LAMBDA_FUNCTION_NAME": "picops-bench",
    "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "PYTHONDONTWRITEBYTECODE": "1",  # as on a read-only code directory
    "PYTHONNOUSERSITE": "1",
}


def _runtime_dir(root: Path) -> Path:
    runtime = root / "runtime"
    runtime.mkdir()
    for top in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(top)
        if spec is None or spec.origin is None:
            raise SystemExit(f"bench needs {top} installed")
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (runtime / source.name).symlink_to(source)
    return runtime


def _read_only(tree: Path) -> None:
    for path in [tree, *tree.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(stat.S_IRUSR | stat.S_IXUSR)


def _writable(tree: Path) -> None:
    for path in [tree, *tree.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(stat.S_IRWXU)


def _trees(root: Path) -> tuple[Path, Path, int]:
    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    settings = Settings.model_validate(
        {"deploy": {"dependency_source": "environment", "runtime": runtime, "cache_dir": str(root / "cache")}}
    )
    bundle = build_bundle(settings, out_dir=root / "out")
    if not bundle.bytecode:
        raise SystemExit("the bundle carries no bytecode for this interpreter: nothing to compare")
    with_pyc, without = root / "with-pyc", root / "without-pyc"
    with zipfile.ZipFile(bundle.path) as zf:
        zf.extractall(with_pyc)
        zf.extractall(without)
    removed = 0
    for pyc in list(without.rglob("*.pyc")):
        pyc.unlink()
        removed += 1
    return with_pyc, without, removed


def _import_s(task: Path, runtime: Path, module: str) -> float:
    script = (
        "import sys, time\n"
        "sys.path[:] = [p for p in sys.path if 'site-packages' not in p and p not in ('', '.')]\n"
        f"sys.path[:0] = [{str(task)!r}, {str(runtime)!r}]\n"
        "t = time.perf_counter()\n"
        f"import {module}\n"
        "print(time.perf_counter() - t)\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), **LAMBDA_ENV}
    proc = subprocess.run(
        [sys.executable, "-S", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{module} failed to import from {task}:\n{proc.stderr[-2000:]}")
    return float(proc.stdout.strip())


def _spread(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"{statistics.median(ms):5.0f} ms ({min(ms):.0f}-{max(ms):.0f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.bundle_bytecode")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--smoke", action="store_true", help="2 rounds, the ingest handler only")
    args = parser.parse_args(argv)
    rounds, handlers = (2, HANDLERS[:1]) if args.smoke else (args.rounds, HANDLERS)
    root = Path(tempfile.mkdtemp(prefix="picops-bench-bytecode-"))
    try:
        with_pyc, without, removed = _trees(root)
        runtime = _runtime_dir(root)
        _read_only(with_pyc)
        _read_only(without)
        print(f"bundle unzipped twice: as built, and without its {removed} pycs; both read-only")
        for module in handlers:
            timings: dict[str, list[float]] = {"with": [], "without": []}
            for _ in range(rounds):
                timings["without"].append(_import_s(without, runtime, module))
                timings["with"].append(_import_s(with_pyc, runtime, module))
            ratio = statistics.median(timings["with"]) / statistics.median(timings["without"])
            print(
                f"import {module}: without bytecode {_spread(timings['without'])}, "
                f"with the bundle's bytecode {_spread(timings['with'])}: {ratio:.2f}x"
            )
    finally:
        for tree in root.iterdir():
            if tree.is_dir():
                _writable(tree)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
