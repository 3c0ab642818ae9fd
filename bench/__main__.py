"""`python -m bench [--smoke]`: run every benchmark in bench/ (smoke-sized for CI)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    args = parser.parse_args()
    failed = 0
    here = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        run = getattr(module, "main", None)
        if run is None:
            continue
        print(f"== bench/{info.name}.py", flush=True)
        code = run(["--smoke"] if args.smoke else [])
        failed += int(bool(code))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
