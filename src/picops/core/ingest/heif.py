"""HEIC/HEIF without an embedded thumbnail, decoded with bounded memory: libheif's YCbCr planes, reduced a
strip at a time, converted to RGB only at the reduced size.

pillow-heif asks libheif for interleaved RGB: the HEVC frame (YCbCr 4:2:0, 1.5 bytes per pixel), libheif's
RGB conversion (3 bytes per pixel) and Pillow's copy are all whole at once, ~90 MB above baseline for a 12 MP
photo. Asked for the planes as decoded (the same call, no colour conversion), libheif holds 1.5 bytes per
pixel; each strip of rows is reduced by an integer factor while still YCbCr (luma and chroma alike: the
conversion is linear, so averaging first gives the same colours), and only the reduced strip is converted
(docs/ingest.md, "Formats and memory").

The conversion is Pillow's YCbCr (JFIF: BT.601, full range). Only such images take this path: 8-bit 4:2:0
or 4:4:4 YCbCr whose colour information names BT.601 (or is absent) with full range, without alpha, which is
what phones and libheif's own encoder write. Anything else, or no loadable libheif (the copy pillow-heif's
wheel ships), leaves the image to pillow-heif within the memory budget.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

from PIL import Image

_COLORSPACE_YCBCR, _COLORSPACE_UNDEFINED = 0, 99
_CHROMA_420, _CHROMA_444, _CHROMA_UNDEFINED = 1, 3, 99
_CHANNEL_Y, _CHANNEL_CB, _CHANNEL_CR = 0, 1, 2
# ITU-T H.273 matrix coefficients Pillow's JFIF conversion implements (BT.470BG and BT.601 are one matrix).
_BT601 = (5, 6)
_STRIP_ROWS = 64


class HeifError(ValueError):
    """libheif refused the image (the message is libheif's)."""


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


@functools.cache
def _library() -> ctypes.CDLL | None:
    """The libheif pillow-heif's wheel ships, initialised; None when it cannot be loaded."""
    try:
        import pillow_heif
    except ImportError:
        return None
    found = sorted((Path(pillow_heif.__file__).parent.parent / "pillow_heif.libs").glob("libheif-*.so*"))
    for candidate in found:
        try:
            lib = ctypes.CDLL(str(candidate))
            _declare(lib)
        except (OSError, AttributeError):
            continue
        lib.heif_init(None)
        return lib
    return None


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
    lib.heif_image_handle_has_alpha_channel.argtypes = [p]
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


def decode_reduced(data: bytes, factor: int) -> Image.Image | None:
    """The primary image reduced by `factor` (the mean of each block), RGB; None when its planes are not a
    kind Pillow's conversion matches (the caller then decodes with pillow-heif)."""
    lib = _library()
    if lib is None:
        return None
    context = lib.heif_context_alloc()
    handle, image = ctypes.c_void_p(), ctypes.c_void_p()
    try:
        _check(lib.heif_context_read_from_memory_without_copy(context, data, len(data), None), "reading")
        _check(lib.heif_context_get_primary_image_handle(context, ctypes.byref(handle)), "the primary image")
        if lib.heif_image_handle_has_alpha_channel(handle):
            return None
        _check(
            lib.heif_decode_image(
                handle, ctypes.byref(image), _COLORSPACE_UNDEFINED, _CHROMA_UNDEFINED, None
            ),
            "decoding",
        )
        return _reduced(lib, image, factor) if _convertible(lib, image) else None
    finally:
        if image:
            lib.heif_image_release(image)
        if handle:
            lib.heif_image_handle_release(handle)
        lib.heif_context_free(context)


def _convertible(lib: ctypes.CDLL, image: ctypes.c_void_p) -> bool:
    if lib.heif_image_get_colorspace(image) != _COLORSPACE_YCBCR:
        return False
    if lib.heif_image_get_chroma_format(image) not in (_CHROMA_420, _CHROMA_444):
        return False
    if any(lib.heif_image_get_bits_per_pixel_range(image, c) != 8 for c in (0, 1, 2)):
        return False
    nclx = ctypes.POINTER(_Nclx)()
    if lib.heif_image_get_nclx_color_profile(image, ctypes.byref(nclx)).code != 0:
        return True  # no colour information: libheif's own conversion assumes BT.601 full range too
    try:
        return nclx.contents.matrix_coefficients in _BT601 and bool(nclx.contents.full_range_flag)
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


def _rows(plane: tuple[int, int, int, int], top: int, count: int) -> Image.Image:
    """`count` rows of a plane from `top`, as an "L" image (a copy of the strip only)."""
    address, width, _height, stride = plane
    rows = ctypes.string_at(address + top * stride, stride * count)  # within libheif's stride x height
    return Image.frombuffer("L", (width, count), rows, "raw", "L", stride, 1)


def _fitted(plane: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A chroma strip at the luma strip's size: averaged where it shrinks, interpolated where it grows (as
    libheif upsamples 4:2:0)."""
    if plane.size == size:
        return plane.copy()
    grows = plane.width < size[0]
    return plane.resize(size, Image.Resampling.BILINEAR if grows else Image.Resampling.BOX)


def _reduced(lib: ctypes.CDLL, image: ctypes.c_void_p, factor: int) -> Image.Image:
    luma, cb, cr = (_plane(lib, image, c) for c in (_CHANNEL_Y, _CHANNEL_CB, _CHANNEL_CR))
    width, height = luma[1], luma[2]
    sub = 2 if cb[2] < height else 1  # 4:2:0 halves the chroma rows (and columns)
    step = sub * factor
    rows = -(-_STRIP_ROWS // step) * step
    out = Image.new("RGB", (-(-width // factor), -(-height // factor)))
    for top in range(0, height, rows):
        count = min(rows, height - top)
        y = _rows(luma, top, count)
        y = y.reduce(factor) if factor > 1 else y.copy()
        c_top, c_count = top // sub, min(-(-count // sub), cb[2] - top // sub)
        chroma = [_fitted(_rows(plane, c_top, c_count), y.size) for plane in (cb, cr)]
        out.paste(Image.merge("YCbCr", (y, *chroma)).convert("RGB"), (0, top // factor))
    return out
