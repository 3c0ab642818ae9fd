"""AVIF through libavif a strip at a time: the same picture as Pillow's whole decode (odd sizes, alpha,
4:4:4), a 12 MP photo within 64 MB above baseline, and broken data refused as a corrupt AVIF
(docs/ingest.md, "Formats and memory")."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from picops.core.ingest import avif, make_thumbnail
from picops.core.ingest.decode import AVIF_STRIPS_BYTES_PER_PIXEL
from picops.core.ingest.thumbnails import ImageRejected

pytestmark = pytest.mark.skipif(not avif.available(), reason="no libavif 1.x next to Pillow")


def _photo(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    gradient = Image.linear_gradient("L").resize(size)
    noise = Image.effect_noise(size, 30).convert("L")
    image = Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.ROTATE_180)))
    if mode == "RGBA":
        image.putalpha(gradient.transpose(Image.Transpose.ROTATE_90).resize(size))
    return image


def _avif(image: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, "AVIF", quality=90, speed=8, **options)
    return out.getvalue()


def _mean_difference(a: Image.Image, b: Image.Image) -> float:
    return max(ImageStat.Stat(ImageChops.difference(a, b)).mean)


@pytest.mark.parametrize(
    ("size", "mode", "subsampling", "factor"),
    [
        ((301, 203), "RGB", "4:2:0", 1),
        ((301, 203), "RGB", "4:2:0", 4),
        ((640, 479), "RGBA", "4:2:0", 3),
        ((500, 300), "RGB", "4:4:4", 2),
    ],
)
def test_the_strips_make_pillows_picture(
    size: tuple[int, int], mode: str, subsampling: str, factor: int
) -> None:
    data = _avif(_photo(size, mode), subsampling=subsampling)
    whole = Image.open(io.BytesIO(data))
    whole.load()
    expected = whole.reduce(factor) if factor > 1 else whole
    strips = avif.decode_reduced(data, factor)
    assert strips.mode == whole.mode
    assert strips.size == expected.size
    # The same libavif conversion; only the chroma upsampling at the strips' edges may differ a little.
    assert _mean_difference(strips, expected) < 1.0


def test_broken_data_is_a_corrupt_avif() -> None:
    data = bytearray(_avif(_photo((400, 300))))
    start = data.index(b"mdat") + 4  # the header parses; the AV1 payload does not decode
    data[start:] = bytes(i * 37 & 255 for i in range(len(data) - start))
    with pytest.raises(ImageRejected, match=r"^corrupt AVIF image: decoding"):
        make_thumbnail(bytes(data), size=64)


_PEAK = """
import resource, sys
from picops.core.ingest import avif, make_thumbnail
data = open(sys.argv[1], "rb").read()
avif.available()
make_thumbnail(open(sys.argv[2], "rb").read(), size=16)  # load the codec's code on a tiny image first
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
thumb = make_thumbnail(data, size=256)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) / 1024, thumb.width, thumb.height)
"""


@pytest.mark.slow
def test_a_12_mp_avif_thumbnail_stays_within_64_mb(tmp_path: Path) -> None:
    # Pillow's own decode of this photo peaks ~105 MiB above baseline (YUV planes, RGB, and its copy).
    big, tiny = tmp_path / "photo.avif", tmp_path / "tiny.avif"
    big.write_bytes(_avif(_photo((4000, 3000))))
    tiny.write_bytes(_avif(_photo((64, 48))))
    run = subprocess.run(
        [sys.executable, "-c", _PEAK, str(big), str(tiny)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    peak_mib, width, height = run.stdout.split()
    assert (int(width), int(height)) == (256, 192)
    assert float(peak_mib) < 64, run.stdout


def test_the_decode_budget_counts_the_planes_before_decoding() -> None:
    data = _avif(_photo((1200, 800)))
    planes = 1200 * 800 * AVIF_STRIPS_BYTES_PER_PIXEL
    with pytest.raises(ImageRejected, match=r"^AVIF image of 1200x800 needs ~3 MiB to decode, over"):
        make_thumbnail(data, size=64, budget=int(planes) - 1)
    assert make_thumbnail(data, size=64, budget=int(planes)).width == 64
