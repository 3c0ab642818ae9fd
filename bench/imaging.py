"""Benchmark: thumbnails from every format ingest reads, side by side with libvips, on 12 MP photos.

Each photo is photo-like (gradients, sensor-like noise), 4000x3000, stored sideways with EXIF orientation 6,
a GPS block and a Display P3 profile, with a flat P3 patch in the middle and a red band along its stored top
edge (after orientation 6 the band is on the viewed right edge). Per format (JPEG, PNG, WebP, GIF, HEIC,
AVIF):

1. Time per 256 px thumbnail: picops (`make_thumbnail`) and the baseline alternate within each round; the
   figures are medians over the rounds. The baseline is libvips' `thumbnail_buffer` with
   `export_profile="srgb"` (pyvips, the dev extra's binary wheel). That wheel's libheif has no HEVC decoder,
   so for HEIC (and for every format when pyvips is not installed) the baseline is Pillow's plain full decode
   (`exif_transpose(open())`, `thumbnail`, save), named as such in the table.
2. Peak memory above baseline: a fresh interpreter per measurement; the photo's bytes are read and the code
   paths warmed on a tiny image of the same format first, then the RSS high-water mark is reset
   (/proc/self/clear_refs) and the thumbnail made: VmHWM minus VmRSS. RSS, not tracemalloc, since the codecs
   allocate natively.
3. Correctness of both outputs: upright (the band on the right), the P3 patch converted to sRGB (within 10 of
   LittleCMS's conversion of the patch's colour), metadata stripped (no EXIF, ICC or XMP), dimensions.

Targets (docs/ingest.md): time <= 0.9x the baseline for JPEG, <= 1.0x for PNG and WebP, <= 1.2x for HEIC and
AVIF; memory <= 2x the baseline's and <= 64 MB. `--smoke` (CI, `make bench`) uses 1000x750 photos and one
round and never fails on targets.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from PIL import Image, ImageCms, ImageOps

from bench import heic_fixtures
from picops.core.ingest import make_thumbnail

SIZE = 256
# HEIF-THUMB: a HEIC with the 320 px thumbnail phones store (decoded instead of the image); HEIF: without,
# a grid of 512 px tiles as cameras and phones write (bench/heic_fixtures.py); HEIF-10BIT: 10 bits a sample
# (HDR phones); HEIF-ALPHA: with an alpha plane (its own grid; flattened onto white). The -FLAT kinds are the
# same pictures as one HEVC frame (what pillow-heif's encoder writes).
HEIF_GRIDS = ("HEIF", "HEIF-10BIT", "HEIF-ALPHA")
HEIF_FLATS = ("HEIF-FLAT", "HEIF-10BIT-FLAT", "HEIF-ALPHA-FLAT")
HEIFS = ("HEIF-THUMB", *HEIF_GRIDS, *HEIF_FLATS)
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", *HEIFS, "AVIF")
SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "AVIF": ".avif"} | dict.fromkeys(
    HEIFS, ".heic"
)
TARGET_TIME_RATIO = {"JPEG": 0.9, "PNG": 1.0, "WEBP": 1.0, "GIF": 1.0, "AVIF": 1.2} | dict.fromkeys(
    HEIFS, 1.2
)
TARGET_MEMORY_RATIO = 2.0
TARGET_MEMORY_MB = 64.0
P3_PATCH = (200, 120, 40)
RED = (210, 30, 30)

# Display P3's primaries adapted to D50 (the ICC connection space) and its transfer curve (sRGB's).
_P3_D50 = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))
_D50 = (0.9642, 1.0, 0.8249)
_SRGB_CURVE = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def p3_profile() -> bytes:
    """A Display P3 ICC v2 profile (matrix/TRC), as phones tag their photos."""

    def text(kind: bytes, value: str) -> bytes:
        if kind == b"desc":
            raw = value.encode() + b"\0"
            return b"desc" + bytes(4) + struct.pack(">I", len(raw)) + raw + bytes(11) + bytes(67)
        return b"text" + bytes(4) + value.encode() + b"\0"

    def xyz(values: tuple[float, float, float]) -> bytes:
        return b"XYZ " + bytes(4) + b"".join(_s15(v) for v in values)

    curve = b"para" + bytes(4) + struct.pack(">HH", 3, 0) + b"".join(_s15(v) for v in _SRGB_CURVE)
    tags = [
        (b"desc", text(b"desc", "Display P3 (picops bench)")),
        (b"cprt", text(b"text", "no copyright, use freely")),
        (b"wtpt", xyz(_D50)),
        (b"rXYZ", xyz(_P3_D50[0])),
        (b"gXYZ", xyz(_P3_D50[1])),
        (b"bXYZ", xyz(_P3_D50[2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        padded = data + bytes(-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += padded
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
        + b"acsp"
        + bytes(24)  # platform, flags, manufacturer, model, attributes
        + bytes(4)  # rendering intent 0 (perceptual)
        + b"".join(_s15(v) for v in _D50)
    )
    header += bytes(128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body


def photo(width: int, height: int, fmt: str, profile: bytes) -> bytes:
    gradient = Image.linear_gradient("L").resize((width, height))
    base = Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_180), gradient))
    noise = Image.effect_noise((width, height), 24).convert("RGB")
    image = Image.blend(base, noise, 0.35)
    image.paste(RED, (0, 0, width, height // 10))
    image.paste(P3_PATCH, (width * 2 // 5, height * 2 // 5, width * 3 // 5, height * 3 // 5))
    exif = Image.Exif()
    exif[0x010F] = "picops-bench"
    exif[0x0112] = 6
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}
    out = io.BytesIO()
    if fmt == "GIF":
        image.save(out, "GIF")  # GIF has no EXIF or ICC
    elif fmt in HEIF_GRIDS:
        # Tiles of 512 px as phones write; a tiny warm-up photo still gets a grid of several tiles.
        tile = heic_fixtures.TILE if min(width, height) > heic_fixtures.TILE else 64
        bits = 10 if "10BIT" in fmt else 8
        stored = _translucent(image) if "ALPHA" in fmt else image
        # As phones write it: irot turns the stored pixels upright and EXIF still says 6 (readers that apply
        # irot ignore it). grid_heic takes the upright picture and stores it turned.
        upright = stored.transpose(Image.Transpose.ROTATE_270)
        heic = heic_fixtures.grid_heic(
            upright, bits=bits, orientation=6, profile=profile, exif=exif.tobytes(), tile=tile
        )
        out.write(heic)
    elif fmt.startswith("HEIF"):
        thumbnails = [320] if fmt == "HEIF-THUMB" else []
        heif = _heif(image, fmt)
        heif.save(out, quality=85, exif=exif.tobytes(), icc_profile=profile, thumbnails=thumbnails)
    else:
        options: dict[str, Any] = {"quality": 90, "exif": exif.tobytes(), "icc_profile": profile}
        if fmt == "AVIF":
            options.update(quality=75, speed=8)
        image.save(out, fmt, **options)
    return out.getvalue()


def _translucent(image: Image.Image) -> Image.Image:
    """Translucent in a corner away from the red band and the P3 patch the correctness table reads."""
    width, height = image.size
    alpha = Image.new("L", image.size, 255)
    alpha.paste(Image.linear_gradient("L").resize((width // 4, height // 4)), (0, height * 3 // 4))
    image = image.convert("RGBA")
    image.putalpha(alpha)
    return image


def _heif(image: Image.Image, fmt: str) -> Any:
    import pillow_heif

    if fmt == "HEIF-ALPHA-FLAT":
        image = _translucent(image)
    if fmt != "HEIF-10BIT-FLAT":
        return pillow_heif.from_pillow(image)
    raw = image.tobytes()
    wide = bytes(v for b in raw for v in (b, b))  # b * 257: the same colour at 16 bits, encoded as 10
    return pillow_heif.from_bytes("RGB;16", image.size, wide)


def picops(data: bytes) -> bytes:
    return make_thumbnail(data, size=SIZE).data


def pillow_full(data: bytes) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    image.thumbnail((SIZE, SIZE))
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def libvips(data: bytes) -> bytes:
    import pyvips

    thumb = pyvips.Image.thumbnail_buffer(data, SIZE, export_profile="srgb")
    out: bytes = thumb.write_to_buffer(".jpg", Q=85, keep="none")
    return out


def has_pyvips() -> bool:
    try:
        import pyvips  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def baseline_for(fmt: str) -> tuple[str, Callable[[bytes], bytes]]:
    if not fmt.startswith("HEIF") and has_pyvips():
        return "libvips", libvips
    return "Pillow full decode", pillow_full


def times_ms(data: bytes, baseline: Callable[[bytes], bytes], rounds: int) -> tuple[float, float]:
    """Median milliseconds per thumbnail of picops and the baseline, alternating within each round."""
    ours: list[float] = []
    theirs: list[float] = []
    picops(data)
    baseline(data)
    for turn in range(rounds):
        order = [(ours, picops), (theirs, baseline)]
        for samples, fn in order if turn % 2 == 0 else reversed(order):
            began = time.perf_counter()
            fn(data)
            samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(ours), statistics.median(theirs)


_MEMORY_CHILD = """
import io, sys
sys.path.insert(0, sys.argv[4])
from PIL import Image
from bench.imaging import libvips, p3_profile, photo, picops, pillow_full
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise SystemExit("no " + field)
run = {"picops": picops, "libvips": libvips, "Pillow full decode": pillow_full}[sys.argv[2]]
data = open(sys.argv[1], "rb").read()
run(photo(128, 96, sys.argv[3], p3_profile()))  # load the codecs, warm the code paths on a tiny image
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # reset the RSS high-water mark (Linux)
base = status("VmRSS")
run(data)
print((status("VmHWM") - base) / 1024)
"""


def peak_mb(path: str, which: str, fmt: str) -> float:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, path, which, fmt, root],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def correctness(fmt: str, output: bytes, profile: bytes) -> dict[str, str]:
    image = Image.open(io.BytesIO(output))
    image.load()
    rgb = image.convert("RGB")
    w, h = rgb.size

    def at(x: float, y: float) -> tuple[int, int, int]:
        value = rgb.getpixel((int(x * (w - 1)), int(y * (h - 1))))
        assert isinstance(value, tuple)
        return value[0], value[1], value[2]

    def near(a: tuple[int, int, int], b: tuple[int, ...], tolerance: int) -> bool:
        return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))

    upright = near(at(0.99, 0.5), RED, 40) and not near(at(0.5, 0.02), RED, 40)
    converted = ImageCms.profileToProfile(
        Image.new("RGB", (1, 1), P3_PATCH),
        ImageCms.ImageCmsProfile(io.BytesIO(profile)),
        ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")),
        outputMode="RGB",
    )
    assert converted is not None
    expected = converted.getpixel((0, 0))
    assert isinstance(expected, tuple)
    srgb = near(at(0.5, 0.5), expected, 10)
    stripped = not image.getexif() and "icc_profile" not in image.info and "xmp" not in image.info
    tagged = fmt != "GIF"  # a GIF carries neither orientation nor a profile: nothing to apply
    return {
        "upright": ("yes" if upright else "NO") if tagged else "n/a",
        "sRGB": ("yes" if srgb else "NO") if tagged else "n/a",
        "stripped": "yes" if stripped else "NO",
        "size": f"{w}x{h}",
    }


def measure(fmt: str, data: bytes, path: str, rounds: int, profile: bytes) -> dict[str, Any]:
    name, baseline = baseline_for(fmt)
    ours_ms, theirs_ms = times_ms(data, baseline, rounds)
    ours_mb, theirs_mb = peak_mb(path, "picops", fmt), peak_mb(path, name, fmt)
    return {
        "format": fmt,
        "baseline": name,
        "ms": (ours_ms, theirs_ms),
        "mb": (ours_mb, theirs_mb),
        "picops": correctness(fmt, picops(data), profile),
        "theirs": correctness(fmt, baseline(data), profile),
    }


def missed(row: dict[str, Any]) -> list[str]:
    fmt, (ours_ms, theirs_ms), (ours_mb, theirs_mb) = row["format"], row["ms"], row["mb"]
    problems = []
    if ours_ms > TARGET_TIME_RATIO[fmt] * theirs_ms:
        problems.append(f"{fmt} time {ours_ms / theirs_ms:.2f}x > {TARGET_TIME_RATIO[fmt]}x")
    if ours_mb > max(TARGET_MEMORY_RATIO * theirs_mb, 1.0) or ours_mb > TARGET_MEMORY_MB:
        problems.append(f"{fmt} memory {ours_mb:.1f} MB (baseline {theirs_mb:.1f} MB)")
    if "NO" in row["picops"].values():
        problems.append(f"{fmt} output incorrect: {row['picops']}")
    return problems


def report(rows: list[dict[str, Any]], width: int, height: int, rounds: int) -> None:
    print(f"{width}x{height} photos, orientation 6, Display P3, GPS; medians of {rounds} alternated round(s)")
    print(
        f"{'format':15s} {'baseline':18s} {'picops ms':>9s} {'base ms':>8s} {'ratio':>6s} "
        f"{'picops MB':>9s} {'base MB':>8s}  picops: upright sRGB stripped size | baseline: same"
    )
    for row in rows:
        (ours_ms, theirs_ms), (ours_mb, theirs_mb) = row["ms"], row["mb"]
        mine, theirs = row["picops"], row["theirs"]
        print(
            f"{row['format']:15s} {row['baseline']:18s} {ours_ms:9.1f} {theirs_ms:8.1f} "
            f"{ours_ms / theirs_ms:5.2f}x {ours_mb:9.1f} {theirs_mb:8.1f}  "
            f"{mine['upright']:>4s} {mine['sRGB']:>4s} {mine['stripped']:>4s} {mine['size']:>7s} | "
            f"{theirs['upright']:>4s} {theirs['sRGB']:>4s} {theirs['stripped']:>4s} {theirs['size']:>7s}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.imaging", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="1000x750 photos, one round, for CI")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated, e.g. WEBP,HEIF")
    args = parser.parse_args(argv)
    width, height, rounds = (1000, 750, 1) if args.smoke else (4000, 3000, args.rounds)
    formats = [f.strip().upper() for f in args.formats.split(",") if f.strip()]
    profile = p3_profile()
    if not has_pyvips():
        print("pyvips is not installed: every baseline is Pillow's full decode")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in formats:
            data = photo(width, height, fmt, profile)
            path = os.path.join(tmp, "photo" + SUFFIX[fmt])
            with open(path, "wb") as fh:
                fh.write(data)
            rows.append(measure(fmt, data, path, rounds, profile))
    report(rows, width, height, rounds)
    problems = [p for row in rows for p in missed(row)]
    for problem in problems:
        print(f"  target missed: {problem}")
    if args.smoke:
        return 0
    print("targets met" if not problems else "TARGETS MISSED")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
