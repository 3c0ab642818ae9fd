"""Decoding an upload with bounded memory: which formats, what each costs, and the reduced decode per format.

Formats are detected by content (never by the key's suffix) from the header alone. The header gives the
pixel count, checked before anything decodes against `[ingest] max_pixels` and then against the memory the
chosen decode needs (docs/ingest.md, "Formats and memory"):

- JPEG: libjpeg's DCT scaling decodes at 1/2, 1/4 or 1/8 of the size (Pillow's `draft`).
- WebP: libwebp's scaled decode (picops.core.ingest.webp): a lossy image is written straight into a buffer
  of the reduced size. Pillow's own WebP decode holds ~16 bytes per source pixel (a 12 MP photo: ~190 MB), so
  Pillow only reads the header, and decodes animations (their first frame) within the budget.
- HEIC/HEIF (pillow-heif, libheif with libde265): an embedded thumbnail at least as large as the output is
  decoded instead of the image (iPhones store one); otherwise the YCbCr planes, reduced a strip at a time
  and converted at the reduced size (BT.601/709/2020, either range, 8 to 16 bits, alpha): a grid a tile at
  a time (picops.core.ingest.heif_tiles), a single frame by libde265 alone (heif_frame), else libheif's
  whole planes (heif); for the rest (4:2:2, monochrome, other matrices), pillow-heif's full RGB decode.
  Each is checked against the function's decode budget at what it holds before it decodes.
- AVIF (libavif, the copy in Pillow's wheel): no reduced decode; the decoded planes are converted to RGB a
  strip at a time and each strip reduced at once (picops.core.ingest.avif); Pillow's decode without libavif.
- PNG: no reduced decode either; the image data is inflated by ISA-L (picops.core.ingest.png), about twice
  as fast as zlib, and unfiltered by Pillow. GIF: Pillow, its first frame.

Every full-size decode must fit a budget: half the function's memory (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`,
which Lambda and `picops local run` set) over the bytes per pixel that decode was measured to need
(bench/imaging.py). Outside a function only `[ingest] max_pixels` applies.

Everything that can never work (not an image, a format picops does not read, corrupt, too many pixels, over
the memory budget) raises ImageRejected with a reason that names the format: a permanent failure, never a
retry.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from PIL import Image, UnidentifiedImageError

from picops.core.ingest import avif, heif, heif_frame, heif_tiles, png, webp

# Pillow's format names, in the order Image.open tries them: HEIF before AVIF, since an AVIF file's brands may
# include the generic HEIF ones (`mif1`) that pillow-heif would otherwise claim.
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "HEIF", "AVIF")
LABELS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF", "HEIF": "HEIC/HEIF", "AVIF": "AVIF"}
SUPPORTED = ", ".join(LABELS.values())
# Peak memory above the process's baseline per *decoded* pixel (after any reduced decode), measured on
# 12 MP photos by bench/imaging.py and rounded up: the codec's buffers plus Pillow's copy of the pixels.
# WEBP is Pillow's own decode (animations only); a still WebP goes through libwebp's scaled decode at
# WEBP_SCALED_BYTES_PER_PIXEL per output pixel (plus, for lossless, per source pixel).
BYTES_PER_PIXEL = {"JPEG": 4.0, "PNG": 5.0, "WEBP": 17.0, "GIF": 5.0, "HEIF": 9.0, "AVIF": 10.0}
WEBP_SCALED_BYTES_PER_PIXEL = 4.5
# AVIF through libavif a strip at a time (picops.core.ingest.avif), per source pixel: the decoded planes
# and the codec's frame buffers (2.4 measured).
AVIF_STRIPS_BYTES_PER_PIXEL = 4.0
# A HEIC without a usable thumbnail through libheif's planes (picops.core.ingest.heif), per source pixel
# (4.8 measured: libde265's frame and libheif's copy of it); more than 8 bits a sample doubles both (8.0
# measured at 10 bits) and an alpha plane adds its own frame and copy (5.4 to 7.1 measured in all at 8
# bits, depending on the picture).
HEIF_PLANES_BYTES_PER_PIXEL = 5.0
HEIF_DEEP_PLANES_BYTES_PER_PIXEL = 8.4
HEIF_ALPHA_BYTES_PER_PIXEL = 2.2
# A grid HEIC decoded a tile at a time (picops.core.ingest.heif_tiles), per pixel of one band (a tile row
# across the image, plus a tile): 8-bit YCbCr 4:2:0; twice that beyond 8 bits, 1.7 times with alpha.
HEIF_TILES_BYTES_PER_BAND_PIXEL = 4.0
# A single-frame HEIC decoded by libde265 alone (picops.core.ingest.heif_frame), per source pixel: the
# frames it holds (heif_frame.frames_per_pixel: 3.0 for 8-bit 4:2:0, whose SAO filter needs a second frame;
# 3.0 beyond 8 bits, decoded without SAO) plus the decoder's per-block data (~1.9 measured); the alpha frame
# is decoded after the colour one is released, so it adds nothing to the peak.
HEIF_DECODER_BYTES_PER_PIXEL = 2.0
# The share of the function's memory one decode may use: the rest holds the runtime, the object's bytes (up to
# `[ingest] max_bytes`) and the encoded output.
DECODE_SHARE = 0.5
MIB = 1024 * 1024
_MEMORY_ENV = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
# Signatures of image formats picops does not read, so the reason names what was uploaded.
_OTHER_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"BM", 0, "BMP"),
    (b"8BPS", 0, "PSD"),
    (b"\x00\x00\x00\x0cjP  ", 0, "JPEG 2000"),
    (b"\xff\x4f\xff\x51", 0, "JPEG 2000"),
    (b"\xff\x0a", 0, "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", 0, "JPEG XL"),
    (b"\x00\x00\x01\x00", 0, "ICO"),
)
_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, RuntimeError)


class ImageRejected(ValueError):
    """The content can never become a thumbnail (corrupt, not an image, unsupported, too many pixels)."""


@dataclass(frozen=True)
class Source:
    """What the header said, before any pixels were decoded."""

    format: str
    width: int
    height: int
    orientation: int
    icc: bytes | None

    @property
    def label(self) -> str:
        return LABELS.get(self.format, self.format)


def memory_budget() -> int | None:
    """Bytes one decode may use in this function; None outside a function (no memory size to size it to)."""
    raw = os.environ.get(_MEMORY_ENV, "")
    try:
        memory_mb = int(raw)
    except ValueError:
        return None
    return int(memory_mb * MIB * DECODE_SHARE) if memory_mb > 0 else None


def sniff(head: bytes) -> str | None:
    """The image format these first bytes announce (supported or not), for reasons; None: not recognised."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[4:8] == b"ftyp":
        brands = head[8:12], *(head[i : i + 4] for i in range(16, min(len(head), 64), 4))
        if b"avif" in brands or b"avis" in brands:
            return "AVIF"
        if any(brand in _HEIF_BRANDS for brand in brands):
            return "HEIF"
    for signature, offset, name in _OTHER_SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return name
    return None


@functools.cache
def _register_heif() -> None:
    """pillow-heif's Pillow plugin, once per process (HEIF only: Pillow reads AVIF itself)."""
    import pillow_heif

    pillow_heif.register_heif_opener(thumbnails=True)


@contextmanager
def open_image(data: bytes) -> Iterator[Image.Image]:
    """The image with its header read and nothing decoded; ImageRejected for what can never decode."""
    _register_heif()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(FORMATS))
        except UnidentifiedImageError:
            raise ImageRejected(_unidentified(data)) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected(f"too many pixels: {exc}") from None
        except _DECODE_ERRORS as exc:
            raise ImageRejected(f"corrupt {_label_of(data)} image: {exc}") from None
        with image:
            yield image


def _unidentified(data: bytes) -> str:
    found = sniff(data[:64])
    if found is None:
        return f"content is not an image picops reads ({SUPPORTED})"
    if found in LABELS:
        return f"corrupt {LABELS[found]} image: its header cannot be read"
    return f"{found} images are not supported (picops reads {SUPPORTED})"


def _label_of(data: bytes) -> str:
    found = sniff(data[:64])
    return LABELS.get(found, found) if found else "image"


def read_source(image: Image.Image, orientation: int) -> Source:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageRejected(f"image has no pixels ({width}x{height})")
    icc = image.info.get("icc_profile")
    return Source(str(image.format), width, height, orientation, icc if isinstance(icc, bytes) else None)


def check_pixels(source: Source, max_pixels: int) -> None:
    pixels = source.width * source.height
    if pixels > max_pixels:
        size = f"{source.width}x{source.height}"
        raise ImageRejected(f"too many pixels: {size} = {pixels:,} > [ingest] max_pixels {max_pixels:,}")


def check_budget(source: Source, pixels: int, per_pixel: float, budget: int | None) -> None:
    """Refuse a decode of `pixels` at `per_pixel` bytes each that would not fit the function's memory."""
    if budget is None:
        return
    need = int(pixels * per_pixel)
    if need > budget:
        size = f"{source.width}x{source.height}"
        raise ImageRejected(
            f"{source.label} image of {size} needs ~{need // MIB:,} MiB to decode, over "
            f"this function's decode budget of {budget // MIB:,} MiB ({DECODE_SHARE:.0%} of its memory): "
            "raise the function's memory_mb or lower [ingest] max_pixels"
        )


def decode_reduced(
    image: Image.Image, data: bytes, source: Source, box: tuple[int, int], budget: int | None
) -> Image.Image:
    """The decoded image, at least `box` in size where the codec can reduce, within `budget` bytes."""
    try:
        if source.format == "WEBP":
            scaled = _webp_scaled(data, source, box, budget)
            if scaled is not None:
                return scaled
        elif source.format == "AVIF" and avif.available():
            return _avif_reduced(data, source, box, budget)
        elif source.format == "HEIF":
            # pillow-heif's draft picks the smallest embedded thumbnail at least this large: the box itself,
            # not the reducing gap's larger one, so a phone's 320 px thumbnail serves a 256 px output.
            image.draft(None, box)
            if image.size == (source.width, source.height) and heif.available():
                planes = _heif_reduced(data, source, box, budget)
                if planes is not None:
                    return planes
        elif box[0] < source.width or box[1] < source.height:
            image.draft(None, box)
        check_budget(source, image.width * image.height, BYTES_PER_PIXEL[source.format], budget)
        if source.format != "PNG" or not png.decode(image, data):
            image.load()
    except ImageRejected:
        raise
    except (*_DECODE_ERRORS, png.PngError, avif.AvifError, heif.HeifError) as exc:
        raise ImageRejected(f"corrupt {source.label} image: {exc}") from None
    return image


def _webp_scaled(data: bytes, source: Source, box: tuple[int, int], budget: int | None) -> Image.Image | None:
    """libwebp's scaled decode of a still WebP; None leaves an animation (or no usable libwebp) to Pillow."""
    if not webp.available():
        return None
    try:
        found = webp.features(data)
        if found.animated:
            return None
        scale = min(1.0, max(box[0] / source.width, box[1] / source.height))
        size = (max(1, round(source.width * scale)), max(1, round(source.height * scale)))
        held = source.width * source.height if found.lossless else 0
        check_budget(source, size[0] * size[1] + held, WEBP_SCALED_BYTES_PER_PIXEL, budget)
        return webp.decode_scaled(data, size)
    except webp.WebPError as exc:
        raise ImageRejected(f"corrupt WebP image: {exc}") from None


def _avif_reduced(data: bytes, source: Source, box: tuple[int, int], budget: int | None) -> Image.Image:
    """libavif's decode converted a strip at a time and reduced by the largest integer factor that keeps
    the image at least `box`: the YUV planes are the only full-size buffer."""
    factor = max(1, min(source.width // max(box[0], 1), source.height // max(box[1], 1)))
    check_budget(source, source.width * source.height, AVIF_STRIPS_BYTES_PER_PIXEL, budget)
    return avif.decode_reduced(data, factor)


def _heif_reduced(
    data: bytes, source: Source, box: tuple[int, int], budget: int | None
) -> Image.Image | None:
    """A HEIC without a usable thumbnail reduced, to at least twice `box` (the output's own size for HEIF),
    so the final resample works from ~2x as for the other formats: a grid a tile at a time
    (picops.core.ingest.heif_tiles), a single frame through libde265 alone (heif_frame), else libheif's
    planes (heif); None leaves the image to pillow-heif's whole RGB decode."""
    factor = max(1, min(source.width // max(2 * box[0], 1), source.height // max(2 * box[1], 1)))
    bits, alpha = heif.describe(data) or (8, False)
    tile = heif_tiles.grid_tile(data)
    if tile is not None:
        # A band: a tile row across the longer side (the stored width, whatever the rotation), plus a tile.
        band = max(source.width, source.height) * (tile[1] + 2 * factor) + tile[0] * tile[1]
        per_band = HEIF_TILES_BYTES_PER_BAND_PIXEL * (2 if bits > 8 else 1) * (1.7 if alpha else 1)
        check_budget(source, band, per_band, budget)
        tiled = heif_tiles.decode_reduced(data, factor)
        if tiled is not None:
            return tiled
    frames = heif_frame.frames_per_pixel(data) if tile is None else None
    if frames is not None:
        check_budget(source, source.width * source.height, frames + HEIF_DECODER_BYTES_PER_PIXEL, budget)
        framed = heif_frame.decode_reduced(data, factor)
        if framed is not None:
            return framed
    per_pixel = HEIF_PLANES_BYTES_PER_PIXEL if bits == 8 else HEIF_DEEP_PLANES_BYTES_PER_PIXEL
    per_pixel += HEIF_ALPHA_BYTES_PER_PIXEL if alpha else 0.0
    check_budget(source, source.width * source.height, per_pixel, budget)
    return heif.decode_reduced(data, factor)


def read_bytes(fp: IO[bytes] | bytes | bytearray) -> bytes:
    if isinstance(fp, bytes):
        return fp
    if isinstance(fp, bytearray):
        return bytes(fp)
    if isinstance(fp, io.BytesIO):
        return fp.getvalue()
    return fp.read()
