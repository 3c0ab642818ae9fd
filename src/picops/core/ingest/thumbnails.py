"""Thumbnails: small, upright, sRGB JPEGs from JPEG, PNG and WebP uploads, without decoding full size.

The order matters for speed and memory (DESIGN.md section 5):
1. `Image.open(fp, formats=[JPEG, PNG, WEBP])` reads the header only: the format is detected by content,
   restricted to those three, and the pixel count is checked against `max_pixels` before anything decodes.
   Pillow's `DecompressionBombWarning` is raised as an error.
2. `thumbnail()` asks the JPEG decoder for a reduced DCT scale (`draft`), so a 12 MP JPEG decodes at 1/8
   size; PNG and WebP decode at full size (their codecs have no such mode).
3. EXIF orientation is applied after, on the small image: transposing first would force a full decode.
4. Colour: an embedded ICC profile is converted to sRGB; alpha is flattened onto white; CMYK, palette and
   greyscale become RGB. Nothing of the source's metadata (EXIF, GPS, XMP, ICC) is written.
"""

from __future__ import annotations

import io
import struct
import time
import warnings
from dataclasses import dataclass
from typing import IO

from PIL import Image, ImageCms, UnidentifiedImageError

FORMATS = ("JPEG", "PNG", "WEBP")
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
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


class ImageRejected(ValueError):
    """The content can never become a thumbnail (corrupt, not an image, unsupported, too many pixels)."""


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
    fp: IO[bytes] | bytes, *, size: int = 256, quality: int = 85, max_pixels: int = 50_000_000
) -> Thumbnail:
    """A JPEG whose longest edge is at most `size`. Raises ImageRejected for content that can never work."""
    began = time.perf_counter()
    stream = io.BytesIO(fp) if isinstance(fp, bytes | bytearray) else fp
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(stream, formats=list(FORMATS)) as image:
                return _thumbnail(image, size, quality, max_pixels, began)
        except ImageRejected:
            raise
        except UnidentifiedImageError:
            raise ImageRejected("content is not a JPEG, PNG or WebP image") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected(f"too many pixels: {exc}") from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
            raise ImageRejected(f"corrupt image: {exc}") from None


def _thumbnail(image: Image.Image, size: int, quality: int, max_pixels: int, began: float) -> Thumbnail:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageRejected(f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageRejected(
            f"too many pixels: {width}x{height} = {width * height:,} > [ingest] max_pixels {max_pixels:,}"
        )
    source_format = str(image.format)
    orientation = _orientation(image)
    icc = image.info.get("icc_profile")
    # JPEG: draft (reduced-scale) decode first. The draft box is the thumbnail's own aspect-preserving size
    # times the reducing gap: thumbnail() alone asks for a square box (size x size), which on a 4:3 photo
    # picks the next larger DCT scale (1/4 instead of 1/8) and decodes four times the pixels for nothing.
    scale = size / max(width, height)
    if scale < 1:
        box = (max(1, int(width * scale * REDUCING_GAP)), max(1, int(height * scale * REDUCING_GAP)))
        image.draft(None, box)
    image.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
    small: Image.Image = image
    transpose = _TRANSPOSE.get(orientation)
    if transpose is not None:
        small = small.transpose(transpose)
    small = _to_srgb(small, icc if isinstance(icc, bytes) else None)
    out = io.BytesIO()
    small.save(out, "JPEG", quality=quality, optimize=True)
    return Thumbnail(
        data=out.getvalue(),
        width=small.width,
        height=small.height,
        source_format=source_format,
        source_width=width,
        source_height=height,
        orientation=orientation,
        milliseconds=(time.perf_counter() - began) * 1000,
    )


def _orientation(image: Image.Image) -> int:
    try:
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
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image
    return converted if converted is not None else image
