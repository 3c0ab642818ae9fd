"""`python -m bench [--smoke]`: run every benchmark in bench/ (smoke-sized for CI).

Each benchmark runs in its own interpreter: the in-process moto servers they start share moto's
process-global backends, so one benchmark's leftovers would otherwise collide with the next one's set-up.
"""

from __future__ import annotations

import argparse
import pkgutil
import subprocess
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
        print(f"== bench/{info.name}.py", flush=True)
        command = [sys.executable, "-m", f"bench.{info.name}", *(["--smoke"] if args.smoke else [])]
        code = subprocess.run(command, cwd=here.parent, check=False).returncode
        if code:
            print(f"bench/{info.name}.py exited {code}", flush=True)
        failed += int(bool(code))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
