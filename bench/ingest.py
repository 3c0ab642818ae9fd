"""Benchmark: the ingest pipeline on 12-megapixel photos.

1. Thumbnails/s on 12 MP JPEGs (EXIF orientation 6), measured in the same run, alternating A/B rounds, the
   median round with the range (lowest-highest) beside it:
   - tutorial: the common pipeline, `ImageOps.exif_transpose(Image.open(f))`, then `thumbnail()`, then save;
     rotating first forces a full-size decode. Target: picops >= 3x its speed.
   - decode floor: Pillow's reduced-scale JPEG decode alone (`draft()` at the scale `thumbnail()` asks for,
     then `load()`), the least any correct path must do. Target: picops within 1.25x of it.
   - picops: `picops.core.ingest.make_thumbnail` (orient after, sRGB, flatten, strip, encode).
2. Peak memory (RSS above a baseline taken after the encoded bytes are in memory, in a fresh interpreter
   per measurement) per 12 MP JPEG for tutorial and picops (target: picops <= 16 MB), and per 12 MP WebP
   (libwebp's scaled decode; every format side by side with libvips: bench/imaging.py).
3. End to end on in-process moto with 10 ms of client latency per request (a botocore `before-send` hook):
   objects/s through `picops.handlers.ingest.handler` vs a tutorial handler (GET, exif_transpose, thumbnail,
   PUT; no claim, job, records or notification), and AWS requests per object by operation (the primary
   figure: the emulator's own cost dominates), with a modelled time at 10 ms per request.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps

from picops.core.ingest import REDUCING_GAP, make_thumbnail

SIZE = 256
LATENCY_S = 0.010
TARGET_TUTORIAL_RATIO = 3.0
TARGET_FLOOR_RATIO = 1.25
TARGET_JPEG_MB = 16.0


def photo(width: int = 4000, height: int = 3000, fmt: str = "JPEG") -> bytes:
    """A photo-like 12 MP image (smooth gradients, shapes, sensor-like noise; ~4 MB as JPEG q90, what a
    12 MP camera writes) with EXIF orientation 6."""
    gradient = Image.linear_gradient("L").resize((width, height))
    base = Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_180), gradient))
    noise = Image.effect_noise((width, height), 24).convert("RGB")
    image = Image.blend(base, noise, 0.35)
    image.paste((200, 40, 40), (0, 0, width // 2, height // 8))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, fmt, quality=90, exif=exif.tobytes())
    return out.getvalue()


def tutorial(data: bytes) -> bytes:
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    image.thumbnail((SIZE, SIZE))
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def decode_floor(data: bytes) -> None:
    image = Image.open(io.BytesIO(data))
    w, h = image.size
    scale = max(w, h) / SIZE
    # What picops's thumbnail() call requests (its reducing_gap), so the same DCT scale.
    image.draft(None, (int(w / scale * REDUCING_GAP), int(h / scale * REDUCING_GAP)))
    image.load()


def picops(data: bytes) -> bytes:
    return make_thumbnail(data, size=SIZE).data


@dataclass(frozen=True)
class Spread:
    """The median of a figure's rounds and its range: one round alone says little on a shared machine."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        if not values:
            raise ValueError("no rounds measured")
        return cls(statistics.median(values), min(values), max(values))

    def __str__(self) -> str:
        return f"{self.median:7.2f} (range {self.low:.2f}-{self.high:.2f})"


def rates(data: bytes, rounds: int, per_round: int) -> dict[str, Spread]:
    paths: dict[str, Callable[[bytes], Any]] = {"tutorial": tutorial, "floor": decode_floor, "picops": picops}
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for fn in paths.values():  # warm up
        fn(data)
    for _ in range(rounds):
        for name, fn in paths.items():
            began = time.perf_counter()
            for _ in range(per_round):
                fn(data)
            samples[name].append(per_round / (time.perf_counter() - began))
    # Each round runs every path back to back, so the ratios are taken round by round (paired) as well.
    samples["picops/tutorial"] = [p / t for p, t in zip(samples["picops"], samples["tutorial"], strict=True)]
    samples["floor/picops"] = [f / p for f, p in zip(samples["floor"], samples["picops"], strict=True)]
    return {name: Spread.of(values) for name, values in samples.items()}


_MEMORY_CHILD = """
import io, sys
from PIL import Image, ImageOps
from picops.core.ingest import make_thumbnail
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise SystemExit("no " + field)
def run(data):
    if sys.argv[2] == "picops":
        make_thumbnail(data, size=256)
    else:
        image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
        image.thumbnail((256, 256))
        image.convert("RGB").save(io.BytesIO(), "JPEG", quality=85)
data = open(sys.argv[1], "rb").read()
small = io.BytesIO()
Image.new("RGB", (64, 48)).save(small, sys.argv[3])
run(small.getvalue())  # warm the code paths on a tiny image
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # reset the RSS high-water mark (Linux)
base = status("VmRSS")
run(data)
print((status("VmHWM") - base) / 1024)
"""


def peak_mb(path: str, which: str, fmt: str) -> float:
    """Peak RSS above the baseline (encoded bytes already in memory) while one photo is thumbnailed."""
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, path, which, fmt], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def end_to_end(objects: int) -> dict[str, Any]:
    from moto import mock_aws

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = "us-east-1"
    os.environ["PICOPS_INGEST__PREFIX"] = "incoming/"
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # one log line per object would drown the figures
    with mock_aws():
        from picops.aws import lambda_factory
        from picops.config import settings_from_env
        from picops.handlers import ingest
        from picops.stack import StackNames

        handler = ingest.handler

        factory = lambda_factory()
        names = StackNames(settings_from_env(), factory.account_id(), factory.region)
        s3, dynamodb, sns = factory.client("s3"), factory.client("dynamodb"), factory.client("sns")
        s3.create_bucket(Bucket=names.uploads_bucket)
        s3.put_bucket_versioning(Bucket=names.uploads_bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.create_bucket(Bucket=names.processed_bucket)
        dynamodb.create_table(
            TableName=names.physical("JobsTable"),
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        sns.create_topic(Name=names.physical("NotifyTopic"))
        data = photo()
        records = []
        for i in range(objects * 2):
            put = s3.put_object(Bucket=names.uploads_bucket, Key=f"incoming/p{i:04d}.jpg", Body=data)
            records.append(
                {
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "bucket": {"name": names.uploads_bucket},
                        "object": {
                            "key": f"incoming/p{i:04d}.jpg",
                            "size": len(data),
                            "eTag": put["ETag"].strip('"'),
                            "versionId": put["VersionId"],
                        },
                    },
                }
            )
        counts: Counter[str] = Counter()

        def latency(request: Any, **kwargs: Any) -> None:
            time.sleep(LATENCY_S)

        def count(model: Any, **kwargs: Any) -> None:
            counts[f"{model.service_model.service_name}:{model.name}"] += 1

        for client in (s3, dynamodb, sns):
            client.meta.events.register("before-send.*.*", latency)
            client.meta.events.register("before-call.*.*", count)

        class Context:
            invoked_function_arn = f"arn:aws:lambda:us-east-1:{factory.account_id()}:function:picops-ingest"

            def get_remaining_time_in_millis(self) -> int:
                return 30_000

        ours = records[:objects]
        event = {
            "Records": [
                {"messageId": str(i), "body": json.dumps({"Records": [r]}), "messageAttributes": {}}
                for i, r in enumerate(ours)
            ]
        }
        began = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # the EMF metric documents
            for start in range(0, len(event["Records"]), 10):
                response = handler({"Records": event["Records"][start : start + 10]}, Context())
                assert response == {"batchItemFailures": []}, response
        picops_s = time.perf_counter() - began
        picops_counts = dict(counts)
        counts.clear()

        began = time.perf_counter()
        for record in records[objects:]:
            obj = record["s3"]["object"]
            body = s3.get_object(Bucket=names.uploads_bucket, Key=obj["key"])["Body"].read()
            s3.put_object(
                Bucket=names.processed_bucket, Key=f"tutorial/{obj['key']}.jpg", Body=tutorial(body)
            )
        tutorial_s = time.perf_counter() - began
        tutorial_counts = dict(counts)
    return {
        "objects": objects,
        "picops_objects_per_s": objects / picops_s,
        "tutorial_objects_per_s": objects / tutorial_s,
        "picops_requests_per_object": {k: v / objects for k, v in sorted(picops_counts.items())},
        "tutorial_requests_per_object": {k: v / objects for k, v in sorted(tutorial_counts.items())},
    }


# -- tracing on vs off ---------------------------------------------------------------------------------
# Each variant runs in a fresh interpreter (Powertools' Tracer decides at the handler's import), as Lambda
# sees it: LAMBDA_TASK_ROOT and a sampled _X_AMZN_TRACE_ID in the environment, so aws-xray-sdk runs in its
# Lambda mode and Powertools patches botocore. "on" records every subsegment (the handler's and one per AWS
# request) and serialises each to an in-memory emitter instead of the UDP daemon; "off" differs only by
# POWERTOOLS_TRACE_DISABLED=true, which the model sets with `[observability] tracing = false` (the handlers
# then run without any tracer: picops.handlers._tracing).
TARGET_TRACING_RATIO = 1.05
_TRACE_HEADER = "Root=1-6570a0b1-5f2b1c3d4e5f60718293a4b5;Parent=53995c3f42cd8ad8;Sampled=1"


class _MemoryEmitter:
    """Stands in for the X-Ray daemon's UDP emitter: serialises each entity as the SDK would send it."""

    def __init__(self) -> None:
        self.entities = 0
        self.bytes = 0

    def send_entity(self, entity: Any) -> None:
        self.entities += 1
        self.bytes += len(entity.serialize())

    def set_daemon_address(self, address: Any) -> None:
        pass


def _tracing_child(objects: int) -> dict[str, Any]:
    from aws_xray_sdk.core import xray_recorder

    from picops.handlers import ingest as ingest_handler

    emitter = _MemoryEmitter()
    xray_recorder.configure(emitter=emitter, sampling=False, context_missing="LOG_ERROR")
    # Timed inside the handler only (end_to_end's set-up and its tutorial half are not ingest's cost); CPU
    # time beside wall time, since other processes on the machine move the wall clock far more than 5%.
    inner = ingest_handler.handler
    spent = {"wall": 0.0, "cpu": 0.0}

    def timed(event: Any, context: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return inner(event, context)
        finally:
            spent["wall"] += time.perf_counter() - wall
            spent["cpu"] += time.process_time() - cpu

    ingest_handler.handler = timed  # type: ignore[assignment]
    end_to_end(objects)
    return {
        "ms_per_object": spent["wall"] * 1000 / objects,
        "cpu_ms_per_object": spent["cpu"] * 1000 / objects,
        "entities_per_object": emitter.entities / objects,
        "bytes_per_object": emitter.bytes / objects,
    }


def tracing_ab(objects: int, rounds: int) -> dict[str, Any]:
    """Ingest's per-object time with tracing on and off, alternating fresh interpreters, median of each."""
    runs: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
    for _ in range(rounds):
        for variant in ("off", "on"):
            env = dict(
                os.environ,
                LAMBDA_TASK_ROOT="/var/task",
                _X_AMZN_TRACE_ID=_TRACE_HEADER,
                POWERTOOLS_TRACE_DISABLED="true" if variant == "off" else "false",
            )
            out = subprocess.run(
                [sys.executable, "-m", "bench.ingest", "--tracing-child", str(objects)],
                cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            runs[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
    on = statistics.median(r["ms_per_object"] for r in runs["on"])
    off = statistics.median(r["ms_per_object"] for r in runs["off"])
    on_cpu = statistics.median(r["cpu_ms_per_object"] for r in runs["on"])
    off_cpu = statistics.median(r["cpu_ms_per_object"] for r in runs["off"])
    return {
        "on_ms": on,
        "off_ms": off,
        "ratio": on / off,
        "on_cpu_ms": on_cpu,
        "off_cpu_ms": off_cpu,
        "cpu_ratio": on_cpu / off_cpu,
        "ratios": sorted(
            a["ms_per_object"] / b["ms_per_object"] for a, b in zip(runs["on"], runs["off"], strict=True)
        ),
        "on_entities_per_object": statistics.median(r["entities_per_object"] for r in runs["on"]),
        "on_bytes_per_object": statistics.median(r["bytes_per_object"] for r in runs["on"]),
        "off_entities_per_object": statistics.median(r["entities_per_object"] for r in runs["off"]),
    }


def _print_tracing(t: dict[str, Any], objects: int, rounds: int) -> None:
    print(
        f"tracing on vs off, end to end on moto ({objects} objects, {LATENCY_S * 1000:.0f} ms per request), "
        f"median of {rounds} alternating round(s), fresh interpreter each:"
    )
    print(
        f"  off (POWERTOOLS_TRACE_DISABLED=true)  {t['off_ms']:7.1f} ms/object in the handler, "
        f"{t['off_cpu_ms']:6.1f} ms CPU"
    )
    print(
        f"  on  (Tracer, in-memory emitter)     {t['on_ms']:7.1f} ms/object in the handler, "
        f"{t['on_cpu_ms']:6.1f} ms CPU, {t['on_entities_per_object']:.1f} X-Ray entities "
        f"({t['on_bytes_per_object'] / 1000:.1f} kB)/object"
    )
    spread = ", ".join(f"{r:.3f}" for r in t["ratios"])
    print(f"  ratio (on/off): {t['ratio']:.3f}x (per round: {spread}; target <= {TARGET_TRACING_RATIO}x)")
    print(f"  CPU ratio (on/off): {t['cpu_ratio']:.3f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--objects", type=int, default=30)
    parser.add_argument(
        "--tracing", action="store_true", help="only the tracing on/off comparison (docs/operating.md)"
    )
    parser.add_argument("--tracing-child", type=int, metavar="OBJECTS", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tracing_child is not None:
        print(json.dumps(_tracing_child(args.tracing_child)))
        return 0
    if args.tracing:
        tracing_rounds, tracing_objects = (1, 3) if args.smoke else (args.rounds, args.objects)
        t = tracing_ab(tracing_objects, tracing_rounds)
        _print_tracing(t, tracing_objects, tracing_rounds)
        return 0 if args.smoke or t["ratio"] <= TARGET_TRACING_RATIO else 1
    rounds, per_round, objects = (1, 1, 3) if args.smoke else (args.rounds, 3, args.objects)

    import tempfile

    data = photo()
    r = rates(data, rounds, per_round)
    vs_tutorial = r["picops/tutorial"].median
    vs_floor = r["floor/picops"].median
    print(
        f"12 MP JPEG thumbnails ({len(data) / 1e6:.1f} MB file, orientation 6), median of {rounds} round(s) "
        "(range lowest-highest):"
    )
    print(f"  tutorial (exif_transpose first)  {r['tutorial']} /s")
    print(f"  decode floor (draft + load)      {r['floor']} /s")
    print(f"  picops make_thumbnail            {r['picops']} /s")
    print(
        f"  picops vs tutorial: {vs_tutorial:.2f}x faster (range {r['picops/tutorial'].low:.2f}-"
        f"{r['picops/tutorial'].high:.2f}; target >= {TARGET_TUTORIAL_RATIO}x)"
    )
    print(
        f"  picops vs floor: {vs_floor:.2f}x the floor's time (range {r['floor/picops'].low:.2f}-"
        f"{r['floor/picops'].high:.2f}; target <= {TARGET_FLOOR_RATIO}x)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        jpeg_path, webp_path = os.path.join(tmp, "p.jpg"), os.path.join(tmp, "p.webp")
        with open(jpeg_path, "wb") as fh:
            fh.write(data)
        with open(webp_path, "wb") as fh:
            fh.write(photo(fmt="WEBP"))
        memory = {
            "tutorial_jpeg": peak_mb(jpeg_path, "tutorial", "JPEG"),
            "picops_jpeg": peak_mb(jpeg_path, "picops", "JPEG"),
            "tutorial_webp": peak_mb(webp_path, "tutorial", "WEBP"),
            "picops_webp": peak_mb(webp_path, "picops", "WEBP"),
        }
    print("peak memory above baseline (RSS high-water mark reset before the photo, fresh interpreter each):")
    print(f"  tutorial, 12 MP JPEG  {memory['tutorial_jpeg']:6.1f} MB")
    print(f"  picops,   12 MP JPEG  {memory['picops_jpeg']:6.1f} MB (target <= {TARGET_JPEG_MB:.0f} MB)")
    print(f"  tutorial, 12 MP WebP  {memory['tutorial_webp']:6.1f} MB")
    print(f"  picops,   12 MP WebP  {memory['picops_webp']:6.1f} MB (libwebp's scaled decode)")

    e2e = end_to_end(objects)
    picops_requests = sum(e2e["picops_requests_per_object"].values())
    tutorial_requests = sum(e2e["tutorial_requests_per_object"].values())
    print(f"end to end on moto, {objects} objects, {LATENCY_S * 1000:.0f} ms client latency per request:")
    for who, requests in (("tutorial", tutorial_requests), ("picops", picops_requests)):
        rate = e2e[f"{who}_objects_per_s"]
        print(f"  {who:8s} handler  {rate:6.2f} objects/s, {requests:.1f} requests/object")
    print(f"  ratio (picops/tutorial): {e2e['picops_objects_per_s'] / e2e['tutorial_objects_per_s']:.2f}x")
    for op, n in e2e["picops_requests_per_object"].items():
        print(f"    {op:28s} {n:.2f} per object")
    print(
        f"  modelled request time per object at {LATENCY_S * 1000:.0f} ms: picops "
        f"{picops_requests * LATENCY_S * 1000:.0f} ms, tutorial {tutorial_requests * LATENCY_S * 1000:.0f} ms"
    )
    if args.smoke:
        return 0
    ok = (
        vs_tutorial >= TARGET_TUTORIAL_RATIO
        and vs_floor <= TARGET_FLOOR_RATIO
        and memory["picops_jpeg"] <= TARGET_JPEG_MB
    )
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
