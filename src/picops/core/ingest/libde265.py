"""libde265 (the HEVC decoder pillow-heif's wheel ships) driven directly through ctypes: one HEVC frame
decoded from its NAL units, its planes lent to a callback while the decoder still holds them, then freed.

libheif copies every frame libde265 decodes into its own image before returning it, so a single-frame HEIC
costs the decoder's frame and that copy at once; called directly, only the decoder's frame exists
(picops.core.ingest.heif_frame, docs/ingest.md "Formats and memory").
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from picops.core.ingest import heif

_T = TypeVar("_T")
_CHROMA = {0: "mono", 1: "420", 2: "422", 3: "444"}
_MAX_THREADS = 4
_PARAM_DISABLE_SAO = 8  # enum de265_param


class De265Error(ValueError):
    """libde265 refused the stream (the message is libde265's)."""


@dataclass(frozen=True)
class Picture:
    """A decoded frame, valid only inside the callback it is given to. Planes: (address, width, height,
    row stride), luma first; chroma absent for a monochrome frame."""

    chroma: str
    bits: tuple[int, ...]
    planes: tuple[tuple[int, int, int, int], ...]
    matrix: int
    full_range: bool

    @property
    def width(self) -> int:
        return self.planes[0][1]

    @property
    def height(self) -> int:
        return self.planes[0][2]


class _Limits(ctypes.Structure):
    # de265_security_limits, version 1.
    _fields_ = [
        ("version", ctypes.c_uint8),
        ("max_image_size_pixels", ctypes.c_uint32),
        ("max_NAL_size_bytes", ctypes.c_uint32),
        ("max_SEI_messages", ctypes.c_uint32),
    ]


@functools.cache
def _library() -> ctypes.CDLL | None:
    """The libde265 next to pillow-heif's libheif, declared; None when it cannot be loaded."""
    return heif.wheel_library("libde265-*.so*", _declare)


def _declare(lib: ctypes.CDLL) -> None:
    p, i, image = ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p
    signatures: dict[str, tuple[list[Any], Any]] = {
        "de265_new_decoder": ([], p),
        "de265_free_decoder": ([p], i),
        "de265_start_worker_threads": ([p, i], i),
        "de265_set_parameter_bool": ([p, i, i], None),
        "de265_push_NAL": ([p, ctypes.c_char_p, i, ctypes.c_int64, p], i),
        "de265_flush_data": ([p], i),
        "de265_decode": ([p, ctypes.POINTER(i)], i),
        "de265_get_next_picture": ([p], image),
        "de265_release_next_picture": ([p], None),
        "de265_get_error_text": ([i], ctypes.c_char_p),
        "de265_isOK": ([i], i),
        "de265_get_image_width": ([image, i], i),
        "de265_get_image_height": ([image, i], i),
        "de265_get_chroma_format": ([image], i),
        "de265_get_bits_per_pixel": ([image, i], i),
        "de265_get_image_plane": ([image, i, ctypes.POINTER(i)], p),
        "de265_get_image_matrix_coefficients": ([image], i),
        "de265_get_image_full_range_flag": ([image], i),
    }
    for name, (argtypes, restype) in signatures.items():
        function = getattr(lib, name)
        function.argtypes = argtypes
        function.restype = restype
    # Security limits arrived in libde265 1.1; without them the caller's size checks are the only guard.
    if hasattr(lib, "de265_get_security_limits"):
        lib.de265_get_security_limits.argtypes = [p]
        lib.de265_get_security_limits.restype = ctypes.POINTER(_Limits)


def _limit(lib: ctypes.CDLL, decoder: int, max_pixels: int) -> None:
    """Refuse a stream whose parameter sets announce more than `max_pixels` before it allocates a frame."""
    if not hasattr(lib, "de265_get_security_limits") or max_pixels <= 0:
        return
    limits = lib.de265_get_security_limits(decoder)
    if limits and limits.contents.version >= 1:
        limits.contents.max_image_size_pixels = min(max_pixels, 0xFFFFFFFF)


def available() -> bool:
    return _library() is not None


def _check(lib: ctypes.CDLL, code: int, what: str) -> None:
    if not lib.de265_isOK(code):
        raise De265Error(f"{what}: {(lib.de265_get_error_text(code) or b'').decode(errors='replace')}")


def decode(nals: Iterable[bytes], use: Callable[[Picture], _T], *, max_pixels: int, sao: bool = True) -> _T:
    """Decode the one frame these NAL units (parameter sets first) carry and return `use(picture)`.

    `sao=False` skips HEVC's sample adaptive offset filter: libde265 applies it out of place, into a second
    whole frame, so without it the decoder holds one frame instead of two (docs/ingest.md, "Formats and
    memory", for what that costs in accuracy). A stream announcing more than `max_pixels` is refused, as
    libheif refuses one larger than its item's ispe."""
    lib = _library()
    if lib is None:
        raise De265Error("libde265 cannot be loaded")
    decoder = lib.de265_new_decoder()
    if not decoder:
        raise De265Error("libde265 could not allocate a decoder")
    try:
        # Threads decode wavefront rows side by side (x265 and phones' encoders write WPP streams).
        _limit(lib, decoder, max_pixels)
        if not sao:
            lib.de265_set_parameter_bool(decoder, _PARAM_DISABLE_SAO, 1)
        lib.de265_start_worker_threads(decoder, max(1, min(_MAX_THREADS, os.cpu_count() or 1)))
        for nal in nals:
            _check(lib, lib.de265_push_NAL(decoder, nal, len(nal), 0, None), "reading")
        _check(lib, lib.de265_flush_data(decoder), "reading")
        picture = _next_picture(lib, decoder)
        try:
            return use(_picture(lib, picture))
        finally:
            lib.de265_release_next_picture(decoder)
    finally:
        lib.de265_free_decoder(decoder)


def _next_picture(lib: ctypes.CDLL, decoder: int) -> int:
    more = ctypes.c_int(1)
    while more.value:
        more.value = 0
        code = lib.de265_decode(decoder, ctypes.byref(more))
        picture = lib.de265_get_next_picture(decoder)
        if picture:
            return int(picture)
        if code and not more.value:
            _check(lib, code, "decoding")
    raise De265Error("decoding: no picture in the stream")


def _picture(lib: ctypes.CDLL, picture: int) -> Picture:
    chroma = _CHROMA.get(lib.de265_get_chroma_format(picture), "unknown")
    planes, bits = [], []
    for channel in range(1 if chroma == "mono" else 3):
        stride = ctypes.c_int()
        address = lib.de265_get_image_plane(picture, channel, ctypes.byref(stride))
        if not address:
            raise De265Error(f"decoding: no plane {channel}")
        width = lib.de265_get_image_width(picture, channel)
        height = lib.de265_get_image_height(picture, channel)
        planes.append((address, width, height, stride.value))
        bits.append(lib.de265_get_bits_per_pixel(picture, channel))
    return Picture(
        chroma,
        tuple(bits),
        tuple(planes),
        lib.de265_get_image_matrix_coefficients(picture),
        bool(lib.de265_get_image_full_range_flag(picture)),
    )
