"""Benchmark: S3 Inventory CSV parsing — rows/s on one core and peak memory at two sizes.

Baseline: the obvious approach, decompress the whole file and parse the list of lines (memory grows with the
file). picops: `core.inventory.iter_csv_rows`, streaming a gzip file row by row (flat memory). Both parse
the same generated gzip CSV (no header, every field quoted, ~10% of keys URL-encoded with `+` and `%XX`).
Speed is timed without tracing; peak memory is measured separately with tracemalloc (which slows parsing).
Targets: >= 250,000 rows/s; peak memory for 1,000,000 rows within 20 MB of that for 100,000.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote_plus

from picops.core.tagging.sources import iter_csv_rows

SCHEMA = ("Bucket", "Key", "VersionId", "IsLatest", "IsDeleteMarker", "Size", "LastModifiedDate", "ETag")
TARGET_ROWS_PER_S = 250_000
TARGET_MEMORY_GROWTH_MB = 20.0


def generate(path: Path, rows: int) -> None:
    """A realistic inventory data file: quoted fields, some keys URL-encoded."""
    with gzip.open(path, "wt", encoding="utf-8", newline="", compresslevel=1) as out:
        block: list[str] = []
        for i in range(rows):
            if i % 10 == 0:
                key = f"incoming/2026/11/{i:08d}+photo%20%C3%BC.jpg"
            else:
                key = f"incoming/2026/11/{i:08d}-photo.jpg"
            block.append(
                f'"picops-uploads","{key}","","true","false","{i % 9000}","2026-11-01T00:00:00.000Z",'
                f'"d41d8cd98f00b204e9800998ecf8427e"\n'
            )
            if len(block) == 10_000:
                out.write("".join(block))
                block.clear()
        out.write("".join(block))


def picops_parse(path: Path) -> int:
    n = 0
    with path.open("rb") as fh:
        for row in iter_csv_rows(fh, SCHEMA):
            if row.is_latest and not row.is_delete_marker:
                n += 1
    return n


def baseline_parse(path: Path) -> int:
    """Whole file in memory, then parse: the approach that does not scale."""
    text = gzip.decompress(path.read_bytes()).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    keys = [unquote_plus(r[1]) for r in rows if r[3] == "true" and r[4] != "true"]
    return len(keys)


def timed(fn: Callable[[Path], int], path: Path) -> tuple[int, float]:
    began = time.perf_counter()
    n = fn(path)
    return n, time.perf_counter() - began


def peak_mb(fn: Callable[[Path], int], path: Path) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        fn(path)
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.inventory", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument(
        "--baseline-memory", action="store_true", help="also trace the baseline's memory at the large size"
    )
    args = parser.parse_args(argv)
    small, large = (5_000, 50_000) if args.smoke else (args.small, args.large)
    with tempfile.TemporaryDirectory(prefix="picops-bench-inv-") as tmp:
        files = {}
        for rows in (small, large):
            path = Path(tmp) / f"{rows}.csv.gz"
            began = time.perf_counter()
            generate(path, rows)
            files[rows] = path
            size_mb = path.stat().st_size / 1e6
            print(f"generated {rows:,} rows ({size_mb:.1f} MB gzip) in {time.perf_counter() - began:.1f} s")
        n, t_base = timed(baseline_parse, files[large])
        m, t_picops = timed(picops_parse, files[large])
        assert n == m == large, (n, m)
        base_rate, picops_rate = large / t_base, large / t_picops
        print(f"baseline (whole file in memory): {base_rate:,.0f} rows/s over {large:,} rows")
        print(f"picops (streaming iter_csv_rows): {picops_rate:,.0f} rows/s over {large:,} rows")
        print(f"ratio: {picops_rate / base_rate:.2f}x the baseline's speed")
        mem_small = peak_mb(picops_parse, files[small])
        mem_large = peak_mb(picops_parse, files[large])
        base_small = peak_mb(baseline_parse, files[small])
        print(
            f"picops peak memory: {mem_small:.2f} MB at {small:,} rows, {mem_large:.2f} MB at {large:,} rows"
        )
        line = f"baseline peak memory: {base_small:.1f} MB at {small:,} rows"
        if args.baseline_memory or args.smoke:
            line += f", {peak_mb(baseline_parse, files[large]):.1f} MB at {large:,} rows"
        else:
            line += f" (grows linearly: ~{base_small * large / small:.0f} MB at {large:,} rows)"
        print(line)
        growth = mem_large - mem_small
        print(f"{'PASS' if picops_rate >= TARGET_ROWS_PER_S else 'MISS'}: >= {TARGET_ROWS_PER_S:,} rows/s")
        print(
            f"{'PASS' if growth <= TARGET_MEMORY_GROWTH_MB else 'MISS'}: memory growth "
            f"{growth:.2f} MB <= {TARGET_MEMORY_GROWTH_MB:.0f} MB from {small:,} to {large:,} rows"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
