"""A HEIC without an embedded thumbnail through libheif's planes, reduced before conversion: the same picture
as pillow-heif's RGB decode, a 12 MP photo within 64 MB above baseline, and the images Pillow's YCbCr
conversion would get wrong (alpha) left to pillow-heif (docs/ingest.md, "Formats and memory")."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image, ImageChops, ImageFilter, ImageStat

from picops.core.ingest import heif, make_thumbnail
from tests import ingest_support as ins

pytestmark = pytest.mark.skipif(not heif.available(), reason="no libheif next to pillow-heif")


def _photo(size: tuple[int, int]) -> Image.Image:
    gradient = Image.linear_gradient("L").resize(size)
    # Blurred a little: a camera's noise is not independent from one pixel to the next, and single-pixel
    # colour noise is exactly what 4:2:0 chroma cannot carry, whoever upsamples it.
    noise = Image.effect_noise(size, 30).convert("L").filter(ImageFilter.GaussianBlur(1))
    return Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.ROTATE_180)))


def _heic(image: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    pillow_heif.from_pillow(image).save(out, quality=90, **options)
    return out.getvalue()


def _pillow_heif(data: bytes) -> Image.Image:
    image = pillow_heif.open_heif(data).to_pillow()
    return image.convert("RGB")


@pytest.mark.parametrize(
    ("size", "chroma", "factor"),
    [((301, 203), 420, 1), ((640, 479), 420, 3), ((800, 600), 420, 8), ((500, 300), 444, 2)],
)
def test_the_reduced_planes_make_pillow_heifs_picture(
    size: tuple[int, int], chroma: int, factor: int
) -> None:
    data = _heic(_photo(size), chroma=chroma)
    whole = _pillow_heif(data)
    expected = whole.reduce(factor) if factor > 1 else whole
    planes = heif.decode_reduced(data, factor)
    assert planes is not None
    assert planes.size == expected.size
    # libheif's and Pillow's BT.601 conversions round differently, and the chroma is averaged, not upsampled.
    assert max(ImageStat.Stat(ImageChops.difference(planes, expected)).mean) < 2.0


def test_a_heic_with_alpha_is_left_to_pillow_heif_and_flattened_on_white() -> None:
    image = Image.new("RGBA", (400, 200), (0, 0, 0, 0))
    image.paste((0, 160, 0, 255), (100, 50, 300, 150))
    data = _heic(image)
    assert heif.decode_reduced(data, 2) is None
    thumb = ins.open_image(make_thumbnail(data, size=100).data)
    corner = thumb.convert("RGB").getpixel((1, 1))
    assert isinstance(corner, tuple)
    assert min(corner) > 240


_PEAK = """
import resource, sys
from picops.core.ingest import heif, make_thumbnail
data = open(sys.argv[1], "rb").read()
make_thumbnail(open(sys.argv[2], "rb").read(), size=16)  # load the codec's code on a tiny image first
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
thumb = make_thumbnail(data, size=256)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) / 1024, thumb.width, thumb.height)
"""


@pytest.mark.slow
def test_a_12_mp_heic_without_a_thumbnail_stays_within_64_mb(tmp_path: Path) -> None:
    # pillow-heif's RGB decode of this photo peaks ~90 MiB above baseline.
    big, tiny = tmp_path / "photo.heic", tmp_path / "tiny.heic"
    big.write_bytes(_heic(_photo((4000, 3000))))
    tiny.write_bytes(_heic(_photo((64, 48))))
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
