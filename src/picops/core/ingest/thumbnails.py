"""Thumbnails: small, upright, sRGB JPEGs from every format ingest reads, without decoding full size.

The order matters for speed and memory (docs/ingest.md):
1. The header only is read (picops.core.ingest.decode): the format is detected by content, the pixel count
   is checked against `max_pixels` before anything decodes, and Pillow's `DecompressionBombWarning` is an
   error.
2. The decode is reduced where the codec can (JPEG DCT scaling, libwebp's scaled decode, a HEIC's embedded
   thumbnail), AVIF and HEIC planes are reduced a strip at a time, and every decode must fit the function's
   memory (decode.check_budget).
3. EXIF orientation is applied after, on the small image: transposing first would force a full decode.
4. Colour: an embedded ICC profile is converted to sRGB; alpha is flattened onto white; CMYK, palette and
   greyscale become RGB. Nothing of the source's metadata (EXIF, GPS, XMP, ICC) is written.
"""

from __future__ import annotations

import functools
import io
import math
import time
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from PIL import Image

from picops.core.ingest import png
from picops.core.ingest.decode import (
    FORMATS,
    ImageRejected,
    Source,
    check_pixels,
    decode_reduced,
    memory_budget,
    open_image,
    read_bytes,
    read_source,
)

if TYPE_CHECKING:
    from PIL import ImageCms

__all__ = ["FORMATS", "REDUCING_GAP", "ImageRejected", "Thumbnail", "make_thumbnail", "prepare"]

_ORIENTATION_TAG = 0x0112
_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# thumbnail()'s two-step resize: reduce (for JPEG: decode at 1/2, 1/4 or 1/8 DCT scale) to at least this
# many times the final size, then resample. Pillow's default (2.0) makes a 4000x3000 photo decode at 1/4 for
# a 256 px thumbnail (the 1/8 scale, 500x375, is 1.95x: just under 2.0); 1.9 lets it decode at 1/8 and still
# resample from ~2x, which Pillow documents as very close to fair resampling.
REDUCING_GAP = 1.9


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    width: int
    height: int
    source_format: str
    source_width: int
    source_height: int
    orientation: int
    milliseconds: float


def make_thumbnail(
    fp: IO[bytes] | bytes,
    *,
    size: int = 256,
    quality: int = 85,
    max_pixels: int = 50_000_000,
    budget: int | None = None,
) -> Thumbnail:
    """A JPEG whose longest edge is at most `size`. Raises ImageRejected for content that can never work.

    `budget`: the bytes one decode may use; None sizes it to this function's memory (decode.memory_budget).
    """
    began = time.perf_counter()
    source, small = prepare(read_bytes(fp), size=size, max_pixels=max_pixels, budget=budget)
    out = io.BytesIO()
    small.save(out, "JPEG", quality=quality, optimize=True)
    return Thumbnail(
        data=out.getvalue(),
        width=small.width,
        height=small.height,
        source_format=source.format,
        source_width=source.width,
        source_height=source.height,
        orientation=source.orientation,
        milliseconds=(time.perf_counter() - began) * 1000,
    )


def prepare(data: bytes, *, size: int, max_pixels: int, budget: int | None) -> tuple[Source, Image.Image]:
    """What the header said, and the image upright, in sRGB RGB, at most `size` on its longest edge."""
    with open_image(data) as image:
        source = read_source(image, _orientation(image, data))
        check_pixels(source, max_pixels)
        small = _reduce(image, data, source, size, memory_budget() if budget is None else budget)
        # Closing the opened file also drops its pixels: an image that needed no change must be copied out.
        return source, small.copy() if small is image else small


def fitted(width: int, height: int, size: int) -> tuple[int, int]:
    """The source's aspect-preserving size within `size` x `size` (never larger), rounded as Pillow's
    thumbnail() rounds. Computed from the source, not from the reduced decode, whose own rounding (a DCT
    scale, libwebp's scaled size, a HEIC's stored thumbnail) would move the output by a pixel per format."""
    if width <= size and height <= size:
        return width, height
    aspect = width / height
    if aspect >= 1:
        candidates = (math.floor(size / aspect), math.ceil(size / aspect))
        best = min(candidates, key=lambda n: abs(aspect - size / n) if n else math.inf)
        return size, max(best, 1)
    candidates = (math.floor(size * aspect), math.ceil(size * aspect))
    best = min(candidates, key=lambda n: abs(aspect - n / size))
    return max(best, 1), size


def fit_within(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)


def _reduce(image: Image.Image, data: bytes, source: Source, size: int, budget: int | None) -> Image.Image:
    """Upright, sRGB, at most `size` on its longest edge."""
    # The reduced decode's box is the output's own aspect-preserving size times the reducing gap: a square box
    # (size x size) on a 4:3 photo picks the next larger JPEG DCT scale (1/4 instead of 1/8) for nothing.
    scale = min(1.0, size / max(source.width, source.height))
    gap = 1.0 if source.format == "HEIF" else REDUCING_GAP
    box = (max(1, int(source.width * scale * gap)), max(1, int(source.height * scale * gap)))
    decoded = decode_reduced(image, data, source, box, budget)
    small = fit_within(decoded, fitted(source.width, source.height, size))
    transpose = _TRANSPOSE.get(source.orientation)
    if transpose is not None:
        small = small.transpose(transpose)
    return _to_srgb(small, source.icc)


def _orientation(image: Image.Image, data: bytes) -> int:
    try:
        if image.format == "PNG" and "exif" not in image.info:
            # Pillow's PNG getexif() decodes the whole image to look for an eXIf chunk after the pixels:
            # before the pixel cap and the memory budget are checked. Walk the chunk headers instead.
            exif = Image.Exif()
            raw = png.late_exif(data)
            if raw is not None:
                exif.load(raw)
            value = exif.get(_ORIENTATION_TAG, 1)
        else:
            value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a damaged EXIF block must not fail an image that decodes
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """RGB in sRGB, alpha flattened onto white."""
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("LA", "La", "PA", "RGBa"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        alpha = image.getchannel("A")
        rgb = image.convert("RGB")
        if icc is not None:
            rgb = _convert_profile(rgb, icc)
            icc = None
        white = Image.new("RGB", image.size, (255, 255, 255))
        white.paste(rgb, mask=alpha)
        return white
    if icc is not None:
        converted = _convert_profile(image, icc)
        if converted.mode == "RGB":
            return converted
        image = converted
    if image.mode != "RGB":
        if image.mode.startswith("I;16") or image.mode in ("I", "F"):
            image = image.point(lambda v: v / 256).convert("L") if image.mode != "F" else image.convert("L")
        image = image.convert("RGB")
    return image


def _convert_profile(image: Image.Image, icc: bytes) -> Image.Image:
    """Convert from the embedded profile to sRGB; an unusable profile leaves the pixels as they are."""
    # LittleCMS loads with the first image that carries a profile, not in every ingest cold start.
    from PIL import ImageCms

    try:
        transform = _transform_to_srgb(icc, image.mode)
        return ImageCms.applyTransform(image, transform) or image
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image


@functools.lru_cache(maxsize=16)
def _transform_to_srgb(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform:
    """Building a LittleCMS transform costs more than applying it to a thumbnail; a warm container sees the
    same few camera profiles (Display P3, sRGB, Adobe RGB) again and again."""
    from PIL import ImageCms

    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    return ImageCms.buildTransform(source, _srgb(), mode, "RGB")


@functools.cache
def _srgb() -> ImageCms.ImageCmsProfile:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
