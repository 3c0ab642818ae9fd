"""PNG through ISA-L's inflate decodes to exactly Pillow's pixels for every PNG layout, refuses broken data as
a corrupt PNG, and never decodes before the pixel cap is checked (docs/ingest.md, "Formats and memory")."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import pytest
from PIL import Image, ImageChops

from picops.core.ingest import make_thumbnail, png
from picops.core.ingest.decode import open_image
from picops.core.ingest.thumbnails import ImageRejected

pytestmark = pytest.mark.skipif(not png.available(), reason="isal is not installed")


def _noise(mode: str, size: tuple[int, int] = (301, 203)) -> Image.Image:
    base = Image.effect_noise(size, 60).convert("L")
    if mode in ("RGB", "RGBA"):
        gradient = Image.linear_gradient("L").resize(size)
        rgb = Image.merge("RGB", (base, gradient, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
        return rgb if mode == "RGB" else rgb.convert("RGBA")
    if mode == "P":
        return _noise("RGB", size).quantize(200)
    return base.convert(mode)


def _encode(image: Image.Image, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", **options)
    return out.getvalue()


def _both(data: bytes) -> tuple[Image.Image, Image.Image]:
    plain = Image.open(io.BytesIO(data))
    plain.load()
    with open_image(data) as image:
        assert png.decode(image, data)
        fast = image.copy()
    return plain, fast


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "1", "I;16"])
def test_every_layout_decodes_to_pillows_own_pixels(mode: str) -> None:
    image = _noise(mode) if mode != "LA" else _noise("L").convert("LA")
    plain, fast = _both(_encode(image, compress_level=6))
    assert fast.mode == plain.mode
    assert fast.size == plain.size
    assert fast.tobytes() == plain.tobytes()
    if mode == "P":
        assert fast.getpalette() == plain.getpalette()


def test_an_interlaced_png_decodes_to_pillows_pixels() -> None:
    import pyvips

    source = _noise("RGB")
    vips = pyvips.Image.new_from_memory(source.tobytes(), source.width, source.height, 3, "uchar")
    data = vips.pngsave_buffer(interlace=True)
    assert Image.open(io.BytesIO(data)).info.get("interlace")
    plain, fast = _both(data)
    assert ImageChops.difference(plain.convert("RGB"), fast.convert("RGB")).getbbox() is None


def test_a_highly_compressible_png_is_inflated_in_bounded_pieces() -> None:
    flat = Image.new("RGB", (3000, 2000), (10, 200, 30))
    plain, fast = _both(_encode(flat, compress_level=9))
    assert fast.tobytes() == plain.tobytes()


def test_truncated_or_damaged_image_data_is_a_corrupt_png() -> None:
    data = _encode(_noise("RGB", (800, 600)), compress_level=1)
    truncated = data[: len(data) // 2]
    with pytest.raises(ImageRejected, match="corrupt PNG image"):
        make_thumbnail(truncated, size=64)
    idat = data.index(b"IDAT") + 4
    damaged = data[: idat + 2] + bytes(b ^ 0x5A for b in data[idat + 2 : idat + 400]) + data[idat + 400 :]
    with pytest.raises(ImageRejected, match="corrupt PNG image"):
        make_thumbnail(damaged, size=64)


def test_a_png_without_exif_is_not_decoded_before_the_pixel_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow's getexif() on such a PNG decodes the whole image; the cap must refuse it before any decode.
    data = _encode(Image.new("RGB", (2000, 2000)))
    loads: list[int] = []
    original = Image.Image.load

    def counting(self: Image.Image) -> Any:
        loads.append(1)
        return original(self)

    monkeypatch.setattr(Image.Image, "load", counting)
    with pytest.raises(ImageRejected, match="too many pixels"):
        make_thumbnail(data, size=64, max_pixels=1_000_000)
    assert not loads


def test_an_exif_chunk_after_the_image_data_still_orients_the_thumbnail() -> None:
    image = Image.new("RGB", (400, 200), (220, 20, 20))
    image.paste((20, 20, 220), (200, 0, 400, 200))
    data = _encode(image)
    exif = Image.Exif()
    exif[0x0112] = 6
    raw = exif.tobytes()
    chunk = struct.pack(">I", len(raw)) + b"eXIf" + raw + struct.pack(">I", zlib.crc32(b"eXIf" + raw))
    iend = data.rindex(b"IEND") - 4
    late = data[:iend] + chunk + data[iend:]
    thumb = make_thumbnail(late, size=64)
    assert (thumb.width, thumb.height) == (32, 64)
    top = Image.open(io.BytesIO(thumb.data)).convert("RGB").getpixel((16, 4))
    assert isinstance(top, tuple)
    assert top[0] > 150
