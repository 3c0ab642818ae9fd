"""HEIC/HEIF without an embedded thumbnail, decoded with bounded memory: libheif's YCbCr planes, reduced a
strip at a time, converted to RGB only at the reduced size.

pillow-heif asks libheif for interleaved RGB: the HEVC frame (YCbCr 4:2:0, 1.5 bytes per pixel), libheif's
RGB conversion (3 bytes per pixel) and Pillow's copy are all whole at once, ~90 MB above baseline for a 12 MP
photo. Asked for the planes as decoded (the same call, no colour conversion), libheif holds 1.5 bytes per
pixel; each strip of rows is reduced by an integer factor while still YCbCr (luma and chroma alike: the
conversion is linear, so averaging first gives the same colours), and only the reduced strip is converted
(docs/ingest.md, "Formats and memory").

8-bit BT.601 full-range YCbCr (what phones and libheif's own encoder write) is converted by Pillow's YCbCr
conversion (JFIF: BT.601, full range). Other colour information libheif reports for the decoded image (the
nclx profile libheif's own RGB conversion uses) is converted here with the standard coefficients: BT.709,
BT.2020 non-constant luminance, limited ("video") range and up to 16 bits per sample, reduced at full
precision (32-bit float) and scaled to 8 bits only at the reduced size. An alpha plane is reduced with the
same filter and returned as RGBA, for the caller to flatten onto white. What remains (4:2:2 or monochrome
planes, a matrix outside these, premultiplied alpha) or no loadable libheif (the copy pillow-heif's wheel
ships) leaves the image to pillow-heif within the memory budget.

This whole-image path holds libde265's frame and libheif's copy at once; grids (heif_tiles) and single
frames (heif_frame, through libde265 alone) use the strip machinery here (`reduce_rows`) with less, and
fall back to this path when they do not apply.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageMath

_COLORSPACE_YCBCR, _COLORSPACE_UNDEFINED = 0, 99
_CHROMA_420, _CHROMA_444, _CHROMA_UNDEFINED = 1, 3, 99
_CHANNEL_Y, _CHANNEL_CB, _CHANNEL_CR, _CHANNEL_ALPHA = 0, 1, 2, 6
# ITU-T H.273 matrix coefficients -> (Kr, Kb). 2 is "unspecified", which libheif's conversion reads as
# BT.601; 5 and 6 (BT.470BG, BT.601) are one matrix, the one Pillow's JFIF conversion implements.
_BT601 = (0.299, 0.114)
_MATRICES = {1: (0.2126, 0.0722), 2: _BT601, 5: _BT601, 6: _BT601, 9: (0.2627, 0.0593)}
_STRIP_ROWS = 64


class HeifError(ValueError):
    """libheif refused the image (the message is libheif's)."""


@dataclass(frozen=True)
class _Layout:
    """How the decoded planes encode colour."""

    kr: float
    kb: float
    full_range: bool
    bits: int
    alpha_bits: int  # 0: no alpha plane

    @property
    def jfif(self) -> bool:
        """Pillow's own YCbCr conversion gives these colours."""
        return (self.kr, self.kb) == _BT601 and self.full_range and self.bits == 8


class _Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("subcode", ctypes.c_int), ("message", ctypes.c_char_p)]


class _Nclx(ctypes.Structure):
    # The leading fields of heif_color_profile_nclx (version 1).
    _fields_ = [
        ("version", ctypes.c_uint8),
        ("color_primaries", ctypes.c_int),
        ("transfer_characteristics", ctypes.c_int),
        ("matrix_coefficients", ctypes.c_int),
        ("full_range_flag", ctypes.c_uint8),
    ]


def wheel_library(pattern: str, declare: Callable[[ctypes.CDLL], None]) -> ctypes.CDLL | None:
    """The first library matching `pattern` that pillow-heif's wheel ships and `declare` accepts; None when
    there is none (no pillow-heif, or a build without the symbols `declare` names)."""
    try:
        import pillow_heif
    except ImportError:
        return None
    for candidate in sorted((Path(pillow_heif.__file__).parent.parent / "pillow_heif.libs").glob(pattern)):
        try:
            lib = ctypes.CDLL(str(candidate))
            declare(lib)
        except (OSError, AttributeError):
            continue
        return lib
    return None


def declared(lib: ctypes.CDLL, signatures: Mapping[str, tuple[list[Any], Any]]) -> ctypes.CDLL | None:
    """`lib` with each named function's argument and result types set; None when one is missing (an older
    build than the one these calls were written for)."""
    try:
        for name, (argtypes, restype) in signatures.items():
            function = getattr(lib, name)
            function.argtypes = argtypes
            function.restype = restype
    except AttributeError:
        return None
    return lib


@functools.cache
def _library() -> ctypes.CDLL | None:
    """The libheif pillow-heif's wheel ships, initialised; None when it cannot be loaded."""
    lib = wheel_library("libheif-*.so*", _declare)
    if lib is not None:
        lib.heif_init(None)
    return lib


def _declare(lib: ctypes.CDLL) -> None:
    p = ctypes.c_void_p
    lib.heif_init.argtypes = [p]
    lib.heif_init.restype = _Error
    lib.heif_context_alloc.restype = p
    lib.heif_context_free.argtypes = [p]
    lib.heif_context_read_from_memory_without_copy.argtypes = [p, ctypes.c_char_p, ctypes.c_size_t, p]
    lib.heif_context_read_from_memory_without_copy.restype = _Error
    lib.heif_context_get_primary_image_handle.argtypes = [p, ctypes.POINTER(p)]
    lib.heif_context_get_primary_image_handle.restype = _Error
    lib.heif_image_handle_release.argtypes = [p]
    lib.heif_image_handle_is_premultiplied_alpha.argtypes = [p]
    lib.heif_image_handle_has_alpha_channel.argtypes = [p]
    lib.heif_image_handle_get_luma_bits_per_pixel.argtypes = [p]
    lib.heif_image_has_channel.argtypes = [p, ctypes.c_int]
    lib.heif_decode_image.argtypes = [p, ctypes.POINTER(p), ctypes.c_int, ctypes.c_int, p]
    lib.heif_decode_image.restype = _Error
    for name in ("heif_image_get_colorspace", "heif_image_get_chroma_format"):
        getattr(lib, name).argtypes = [p]
    for name in ("heif_image_get_width", "heif_image_get_height", "heif_image_get_bits_per_pixel_range"):
        getattr(lib, name).argtypes = [p, ctypes.c_int]
    lib.heif_image_get_plane_readonly.argtypes = [p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.heif_image_get_plane_readonly.restype = p
    lib.heif_image_get_nclx_color_profile.argtypes = [p, ctypes.POINTER(ctypes.POINTER(_Nclx))]
    lib.heif_image_get_nclx_color_profile.restype = _Error
    lib.heif_nclx_color_profile_free.argtypes = [ctypes.POINTER(_Nclx)]
    lib.heif_image_release.argtypes = [p]


def available() -> bool:
    return _library() is not None


def _check(error: _Error, what: str) -> None:
    if error.code != 0:
        message = (error.message or b"").decode(errors="replace")
        raise HeifError(f"{what}: {message}")


def describe(data: bytes) -> tuple[int, bool] | None:
    """The primary image's bits per luma sample and whether it has alpha, from the header (nothing decoded);
    None without a loadable libheif."""
    lib = _library()
    if lib is None:
        return None
    context = lib.heif_context_alloc()
    handle = ctypes.c_void_p()
    try:
        _check(lib.heif_context_read_from_memory_without_copy(context, data, len(data), None), "reading")
        _check(lib.heif_context_get_primary_image_handle(context, ctypes.byref(handle)), "the primary image")
        bits = lib.heif_image_handle_get_luma_bits_per_pixel(handle)
        return max(bits, 8), bool(lib.heif_image_handle_has_alpha_channel(handle))
    finally:
        if handle:
            lib.heif_image_handle_release(handle)
        lib.heif_context_free(context)


def decode_reduced(data: bytes, factor: int) -> Image.Image | None:
    """The primary image reduced by `factor` (the mean of each block), RGB (RGBA with alpha); None when its
    planes are not a kind converted here (the caller then decodes with pillow-heif)."""
    lib = _library()
    if lib is None:
        return None
    context = lib.heif_context_alloc()
    handle, image = ctypes.c_void_p(), ctypes.c_void_p()
    try:
        _check(lib.heif_context_read_from_memory_without_copy(context, data, len(data), None), "reading")
        _check(lib.heif_context_get_primary_image_handle(context, ctypes.byref(handle)), "the primary image")
        if lib.heif_image_handle_is_premultiplied_alpha(handle):
            return None
        _check(
            lib.heif_decode_image(
                handle, ctypes.byref(image), _COLORSPACE_UNDEFINED, _CHROMA_UNDEFINED, None
            ),
            "decoding",
        )
        layout = _layout(lib, image)
        return _reduced(lib, image, factor, layout) if layout else None
    finally:
        if image:
            lib.heif_image_release(image)
        if handle:
            lib.heif_image_handle_release(handle)
        lib.heif_context_free(context)


def _layout(lib: ctypes.CDLL, image: ctypes.c_void_p) -> _Layout | None:
    if lib.heif_image_get_colorspace(image) != _COLORSPACE_YCBCR:
        return None
    if lib.heif_image_get_chroma_format(image) not in (_CHROMA_420, _CHROMA_444):
        return None
    bits = {lib.heif_image_get_bits_per_pixel_range(image, c) for c in (0, 1, 2)}
    if len(bits) != 1 or not 8 <= min(bits) <= 16:
        return None
    alpha_bits = 0
    if lib.heif_image_has_channel(image, _CHANNEL_ALPHA):
        alpha_bits = lib.heif_image_get_bits_per_pixel_range(image, _CHANNEL_ALPHA)
        if not 8 <= alpha_bits <= 16:
            return None
    matrix, full_range = _nclx(lib, image)
    if matrix not in _MATRICES:
        return None
    kr, kb = _MATRICES[matrix]
    return _Layout(kr, kb, full_range, min(bits), alpha_bits)


def _nclx(lib: ctypes.CDLL, image: ctypes.c_void_p) -> tuple[int, bool]:
    """The matrix coefficients and range libheif's own conversion would use for the decoded image."""
    nclx = ctypes.POINTER(_Nclx)()
    if lib.heif_image_get_nclx_color_profile(image, ctypes.byref(nclx)).code != 0:
        return 6, True  # no colour information: libheif's conversion assumes BT.601 full range too
    try:
        return nclx.contents.matrix_coefficients, bool(nclx.contents.full_range_flag)
    finally:
        lib.heif_nclx_color_profile_free(nclx)


def _plane(lib: ctypes.CDLL, image: ctypes.c_void_p, channel: int) -> tuple[int, int, int, int]:
    """The plane's address, width, height and row stride."""
    stride = ctypes.c_int()
    address = lib.heif_image_get_plane_readonly(image, channel, ctypes.byref(stride))
    if not address:
        raise HeifError(f"decoding: no plane {channel}")
    width = lib.heif_image_get_width(image, channel)
    height = lib.heif_image_get_height(image, channel)
    return address, width, height, stride.value


def _rows(plane: tuple[int, int, int, int], top: int, count: int, bits: int) -> Image.Image:
    """`count` rows of a plane from `top` (a copy of the strip only): "L" for 8 bits, else "F" holding the
    samples as read, so the reduction keeps their full precision."""
    address, width, _height, stride = plane
    rows = ctypes.string_at(address + top * stride, stride * count)  # within libheif's stride x height
    if bits == 8:
        return Image.frombuffer("L", (width, count), rows, "raw", "L", stride, 1)
    return Image.frombuffer("F", (width, count), rows, "raw", "F;16", stride, 1)


def _fitted(plane: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A chroma strip at the luma strip's size: averaged where it shrinks, interpolated where it grows (as
    libheif upsamples 4:2:0)."""
    if plane.size == size:
        return plane.copy()
    grows = plane.width < size[0]
    return plane.resize(size, Image.Resampling.BILINEAR if grows else Image.Resampling.BOX)


def _reduce(strip: Image.Image, factor: int) -> Image.Image:
    return strip.reduce(factor) if factor > 1 else strip.copy()


def _to_rgb(y: Image.Image, cb: Image.Image, cr: Image.Image, layout: _Layout) -> Image.Image:
    """RGB from a reduced YCbCr strip with the layout's matrix and range (H.273's equations)."""
    if layout.jfif:
        return Image.merge("YCbCr", (y, cb, cr)).convert("RGB")
    scale = 1 << (layout.bits - 8)
    if layout.full_range:
        y_off, y_gain, c_gain = 0.0, 255 / ((1 << layout.bits) - 1), 255 / ((1 << layout.bits) - 1)
    else:
        y_off, y_gain, c_gain = 16.0 * scale, 255 / (219 * scale), 255 / (224 * scale)
    kr, kb = layout.kr, layout.kb
    kg = 1 - kr - kb
    coefficients = {
        "R": (2 * (1 - kr), 0.0),
        "G": (-2 * kr * (1 - kr) / kg, -2 * kb * (1 - kb) / kg),
        "B": (0.0, 2 * (1 - kb)),
    }
    planes = {"y": y.convert("F"), "cb": cb.convert("F"), "cr": cr.convert("F")}
    c_off = 128.0 * scale

    def channel(r: float, b: float) -> Image.Image:
        def expression(a: dict[str, Any]) -> Any:
            y, cb, cr = a["y"], a["cb"], a["cr"]
            # + 0.5: F to L truncates, so this rounds.
            return (y - y_off) * y_gain + (cr - c_off) * (c_gain * r) + (cb - c_off) * (c_gain * b) + 0.5

        out: Image.Image = ImageMath.lambda_eval(expression, **planes)
        return out.convert("L")

    return Image.merge("RGB", [channel(r, b) for r, b in coefficients.values()])


def _to_l(strip: Image.Image, bits: int) -> Image.Image:
    """An alpha strip of more than 8 bits (an "F" image of its samples) scaled to 8."""
    if bits == 8:
        return strip
    return strip.point(lambda v: v * (255 / ((1 << bits) - 1)) + 0.5).convert("L")


def _reduced(lib: ctypes.CDLL, image: ctypes.c_void_p, factor: int, layout: _Layout) -> Image.Image:
    luma, cb, cr = (_plane(lib, image, c) for c in (_CHANNEL_Y, _CHANNEL_CB, _CHANNEL_CR))
    planes = Planes(luma, cb, cr, _plane(lib, image, _CHANNEL_ALPHA) if layout.alpha_bits else None)
    width, height = luma[1], luma[2]
    sub = 2 if cb[2] < height else 1  # 4:2:0 halves the chroma rows (and columns)
    out = Image.new("RGBA" if planes.alpha else "RGB", (-(-width // factor), -(-height // factor)))
    reduce_rows(planes, height, factor, sub, layout, out, 0)
    return out


@dataclass(frozen=True)
class Planes:
    """Where a picture's planes are: (address, width, height, row stride) each; rows from 0."""

    luma: tuple[int, int, int, int]
    cb: tuple[int, int, int, int]
    cr: tuple[int, int, int, int]
    alpha: tuple[int, int, int, int] | None


def reduce_rows(
    planes: Planes, height: int, factor: int, sub: int, layout: _Layout, out: Image.Image, out_top: int
) -> None:
    """Rows [0, height) of the planes reduced by `factor` a strip at a time, converted to RGB(A) and pasted
    into `out` from row `out_top`. `height` is a multiple of sub * factor unless these are the last rows."""
    step = sub * factor
    rows = -(-_STRIP_ROWS // step) * step
    for top in range(0, height, rows):
        count = min(rows, height - top)
        y = _reduce(_rows(planes.luma, top, count, layout.bits), factor)
        c_top, c_count = top // sub, min(-(-count // sub), planes.cb[2] - top // sub)
        chroma = [
            _fitted(_rows(plane, c_top, c_count, layout.bits), y.size) for plane in (planes.cb, planes.cr)
        ]
        strip = _to_rgb(y, chroma[0], chroma[1], layout)
        if planes.alpha:
            a = _reduce(_rows(planes.alpha, top, count, layout.alpha_bits), factor)
            strip = Image.merge("RGBA", (*strip.split(), _to_l(a, layout.alpha_bits)))
        out.paste(strip, (0, out_top + top // factor))
