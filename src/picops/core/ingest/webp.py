"""WebP's scaled decode: libwebp's `WebPDecode` with `use_scaling`, called through ctypes.

Pillow decodes every WebP through libwebp's animation decoder at full size and then copies it (~16 bytes per
source pixel: a 12 MP photo peaks ~190 MB above baseline). libwebp itself can write a lossy image straight
into an output buffer of the reduced size, which Pillow does not expose. The library is the one Pillow
already loads (its wheel ships it under `pillow.libs/`; a system Pillow links the system's), so the Lambda
bundle needs nothing more. The structures below are libwebp's `decode.h` at decoder ABI 0x0209 (libwebp
1.0 and later); `WebPInitDecoderConfigInternal` refuses an incompatible library, and then the caller falls
back to Pillow's full decode within the memory budget.

A lossless (VP8L) image still holds the whole image as 32-bit pixels whatever the output size (back
references reach anywhere above), so only its output is reduced; an animation needs its canvas and is left to
Pillow (its first frame).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

_ABI_VERSION = 0x0209
_MODE_RGB, _MODE_RGBA = 0, 1
_FORMAT_LOSSLESS = 2
_STATUS = {
    1: "out of memory",
    2: "invalid parameter",
    3: "bitstream error",
    4: "unsupported feature",
    5: "suspended",
    6: "user abort",
    7: "not enough data",
}


class _Features(ctypes.Structure):
    _fields_ = [
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("has_alpha", ctypes.c_int),
        ("has_animation", ctypes.c_int),
        ("format", ctypes.c_int),
        ("pad", ctypes.c_uint32 * 5),
    ]


class _RGBABuffer(ctypes.Structure):
    _fields_ = [("rgba", ctypes.c_void_p), ("stride", ctypes.c_int), ("size", ctypes.c_size_t)]


class _YUVABuffer(ctypes.Structure):
    _fields_ = [
        *((name, ctypes.c_void_p) for name in ("y", "u", "v", "a")),
        *((name, ctypes.c_int) for name in ("y_stride", "u_stride", "v_stride", "a_stride")),
        *((name, ctypes.c_size_t) for name in ("y_size", "u_size", "v_size", "a_size")),
    ]


class _Buffers(ctypes.Union):
    _fields_ = [("RGBA", _RGBABuffer), ("YUVA", _YUVABuffer)]


class _DecBuffer(ctypes.Structure):
    _fields_ = [
        ("colorspace", ctypes.c_int),
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("is_external_memory", ctypes.c_int),
        ("u", _Buffers),
        ("pad", ctypes.c_uint32 * 4),
        ("private_memory", ctypes.c_void_p),
    ]


class _Options(ctypes.Structure):
    _fields_ = [
        *(
            (name, ctypes.c_int)
            for name in (
                "bypass_filtering",
                "no_fancy_upsampling",
                "use_cropping",
                "crop_left",
                "crop_top",
                "crop_width",
                "crop_height",
                "use_scaling",
                "scaled_width",
                "scaled_height",
                "use_threads",
                "dithering_strength",
                "flip",
                "alpha_dithering_strength",
            )
        ),
        ("pad", ctypes.c_uint32 * 5),
    ]


class _Config(ctypes.Structure):
    _fields_ = [("input", _Features), ("output", _DecBuffer), ("options", _Options)]


class WebPError(ValueError):
    """libwebp refused the bitstream (the reason is libwebp's status)."""


@dataclass(frozen=True)
class Features:
    width: int
    height: int
    has_alpha: bool
    animated: bool
    lossless: bool


@functools.cache
def _library() -> ctypes.CDLL | None:
    """Pillow's own libwebp (or the system's); None when neither can be loaded or it is incompatible."""
    import PIL

    bundled = sorted((Path(PIL.__file__).parent.parent / "pillow.libs").glob("libwebp-*.so*"))
    candidates = [str(p) for p in bundled] + [ctypes.util.find_library("webp") or ""]
    for candidate in filter(None, candidates):
        try:
            lib = ctypes.CDLL(candidate)
        except OSError:
            continue
        lib.WebPInitDecoderConfigInternal.argtypes = [ctypes.POINTER(_Config), ctypes.c_int]
        lib.WebPGetFeaturesInternal.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.POINTER(_Features),
            ctypes.c_int,
        ]
        lib.WebPDecode.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(_Config)]
        config = _Config()
        if lib.WebPInitDecoderConfigInternal(ctypes.byref(config), _ABI_VERSION):
            return lib
    return None


def available() -> bool:
    return _library() is not None


def features(data: bytes) -> Features:
    lib = _library()
    if lib is None:
        raise WebPError("libwebp is not available")
    found = _Features()
    status = lib.WebPGetFeaturesInternal(data, len(data), ctypes.byref(found), _ABI_VERSION)
    if status:
        raise WebPError(_STATUS.get(status, f"status {status}"))
    return Features(
        found.width,
        found.height,
        bool(found.has_alpha),
        animated=bool(found.has_animation),
        lossless=found.format == _FORMAT_LOSSLESS,
    )


def decode_scaled(data: bytes, size: tuple[int, int]) -> Image.Image:
    """The still image decoded straight to `size` (RGB, or RGBA with alpha) into a buffer Pillow then owns."""
    lib = _library()
    if lib is None:
        raise WebPError("libwebp is not available")
    config = _Config()
    lib.WebPInitDecoderConfigInternal(ctypes.byref(config), _ABI_VERSION)
    status = lib.WebPGetFeaturesInternal(data, len(data), ctypes.byref(config.input), _ABI_VERSION)
    if status:
        raise WebPError(_STATUS.get(status, f"status {status}"))
    mode, channels = ("RGBA", 4) if config.input.has_alpha else ("RGB", 3)
    width, height = size
    # External memory: libwebp writes into a buffer we own, so nothing of libwebp's needs freeing after.
    pixels = ctypes.create_string_buffer(width * height * channels)
    config.options.use_scaling = 1
    # libwebp's in-loop filter in a second thread, as libvips runs it: ~1.3x faster on two cores, and no more
    # memory than a few rows.
    config.options.use_threads = 1
    config.options.scaled_width, config.options.scaled_height = width, height
    config.output.colorspace = _MODE_RGBA if channels == 4 else _MODE_RGB
    config.output.is_external_memory = 1
    config.output.u.RGBA.rgba = ctypes.cast(pixels, ctypes.c_void_p)
    config.output.u.RGBA.stride = width * channels
    config.output.u.RGBA.size = len(pixels)
    status = lib.WebPDecode(data, len(data), ctypes.byref(config))
    if status:
        raise WebPError(_STATUS.get(status, f"status {status}"))
    return Image.frombytes(mode, (width, height), pixels.raw)
