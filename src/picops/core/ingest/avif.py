"""AVIF decoded with bounded memory: libavif's decode, then YUV to RGB a strip at a time, reduced at once.

libavif has no reduced decode: the AV1 frame is decoded whole, as YUV planes (a 4:2:0 photo: 1.5 bytes per
pixel). Pillow then converts it all to RGB and copies that into its image: a 12 MP AVIF peaks ~105 MB above
baseline. Here libavif converts one horizontal strip of the planes at a time (`avifImageSetViewRect`, a view
without copying) into a small buffer, which Pillow reduces by an integer factor straight away; only the planes
and the reduced image are ever whole (docs/ingest.md, "Formats and memory").

The library is the one Pillow already loads (its wheel ships libavif under `pillow.libs/`), so the bundle
needs nothing more. The structures are libavif 1.x's `avif.h`: the fields read and set here (the decoder's
first fields up to `image`, avifImage's first fields, the whole avifRGBImage) are the same in every 1.x
release; another major version, or no libavif, makes `available()` False and the caller decodes with Pillow
within the memory budget.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from pathlib import Path

from PIL import Image

_RGB, _RGBA = 0, 1
_UPSAMPLING_BILINEAR = 4
_STRIP_ROWS = 64  # rows converted per call, rounded up to the reduction's and the chroma's alignment


class AvifError(ValueError):
    """libavif refused the bitstream (the reason is libavif's)."""


class _Image(ctypes.Structure):
    # The leading fields of avifImage; the structure is only ever read through a pointer libavif owns.
    _fields_ = [
        ("width", ctypes.c_uint32),
        ("height", ctypes.c_uint32),
        ("depth", ctypes.c_uint32),
        ("yuv_format", ctypes.c_int),
        ("yuv_range", ctypes.c_int),
        ("chroma_sample_position", ctypes.c_int),
        ("yuv_planes", ctypes.c_void_p * 3),
        ("yuv_row_bytes", ctypes.c_uint32 * 3),
        ("image_owns_yuv_planes", ctypes.c_int),
        ("alpha_plane", ctypes.c_void_p),
    ]


class _Decoder(ctypes.Structure):
    # The leading fields of avifDecoder, up to the decoded image.
    _fields_ = [
        *(
            (name, ctypes.c_int)
            for name in (
                "codec_choice",
                "max_threads",
                "requested_source",
                "allow_progressive",
                "allow_incremental",
                "ignore_exif",
                "ignore_xmp",
                "image_size_limit",
                "image_dimension_limit",
                "image_count_limit",
                "strict_flags",
            )
        ),
        ("image", ctypes.POINTER(_Image)),
    ]


class _RGBImage(ctypes.Structure):
    _fields_ = [
        *(
            (name, ctypes.c_int)
            for name in (
                "width",
                "height",
                "depth",
                "format",
                "chroma_upsampling",
                "chroma_downsampling",
                "avoid_libyuv",
                "ignore_alpha",
                "alpha_premultiplied",
                "is_float",
                "max_threads",
            )
        ),
        ("pixels", ctypes.c_void_p),
        ("row_bytes", ctypes.c_uint32),
    ]


class _CropRect(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in ("x", "y", "width", "height")]


@functools.cache
def _library() -> ctypes.CDLL | None:
    """Pillow's own libavif (or the system's), 1.x; None when neither loads."""
    import PIL

    bundled = sorted((Path(PIL.__file__).parent.parent / "pillow.libs").glob("libavif-*.so*"))
    candidates = [str(p) for p in bundled] + [ctypes.util.find_library("avif") or ""]
    for candidate in filter(None, candidates):
        try:
            lib = ctypes.CDLL(candidate)
            lib.avifVersion.restype = ctypes.c_char_p
            major = int(lib.avifVersion().split(b".")[0])
        except (OSError, AttributeError, ValueError):
            continue
        if major == 1:
            _declare(lib)
            return lib
    return None


def _declare(lib: ctypes.CDLL) -> None:
    lib.avifDecoderCreate.restype = ctypes.POINTER(_Decoder)
    lib.avifDecoderDestroy.argtypes = [ctypes.POINTER(_Decoder)]
    lib.avifDecoderSetIOMemory.argtypes = [ctypes.POINTER(_Decoder), ctypes.c_char_p, ctypes.c_size_t]
    lib.avifDecoderParse.argtypes = [ctypes.POINTER(_Decoder)]
    lib.avifDecoderNextImage.argtypes = [ctypes.POINTER(_Decoder)]
    lib.avifImageCreateEmpty.restype = ctypes.POINTER(_Image)
    lib.avifImageDestroy.argtypes = [ctypes.POINTER(_Image)]
    lib.avifImageSetViewRect.argtypes = [
        ctypes.POINTER(_Image),
        ctypes.POINTER(_Image),
        ctypes.POINTER(_CropRect),
    ]
    lib.avifRGBImageSetDefaults.argtypes = [ctypes.POINTER(_RGBImage), ctypes.POINTER(_Image)]
    lib.avifImageYUVToRGB.argtypes = [ctypes.POINTER(_Image), ctypes.POINTER(_RGBImage)]
    lib.avifResultToString.restype = ctypes.c_char_p


def available() -> bool:
    return _library() is not None


def _check(lib: ctypes.CDLL, result: int, what: str) -> None:
    if result != 0:
        raise AvifError(f"{what}: {lib.avifResultToString(result).decode()}")


def decode_reduced(data: bytes, factor: int) -> Image.Image:
    """The first image, reduced by `factor` (Pillow's `reduce`: the mean of each factor x factor block), as
    RGB, or RGBA when it has alpha."""
    lib = _library()
    if lib is None:
        raise AvifError("libavif is not available")
    decoder = lib.avifDecoderCreate()
    if not decoder:
        raise AvifError("libavif could not allocate a decoder")
    try:
        decoder.contents.max_threads = os.cpu_count() or 1
        _check(lib, lib.avifDecoderSetIOMemory(decoder, data, len(data)), "reading")
        _check(lib, lib.avifDecoderParse(decoder), "parsing")
        _check(lib, lib.avifDecoderNextImage(decoder), "decoding")
        return _converted(lib, decoder.contents.image, factor)
    finally:
        lib.avifDecoderDestroy(decoder)


def _converted(lib: ctypes.CDLL, image: ctypes._Pointer[_Image], factor: int) -> Image.Image:
    width, height = image.contents.width, image.contents.height
    mode, channels, layout = ("RGBA", 4, _RGBA) if image.contents.alpha_plane else ("RGB", 3, _RGB)
    step = 2 * factor  # a 4:2:0 view starts on an even row; a strip reduces on its own
    rows = -(-_STRIP_ROWS // step) * step
    out = Image.new(mode, (-(-width // factor), -(-height // factor)))
    buffer = bytearray(width * channels * rows)
    address = ctypes.addressof((ctypes.c_char * len(buffer)).from_buffer(buffer))
    view = lib.avifImageCreateEmpty()
    if not view:
        raise AvifError("libavif could not allocate an image")
    try:
        for top in range(0, height, rows):
            strip = min(rows, height - top)
            _check(lib, lib.avifImageSetViewRect(view, image, _CropRect(0, top, width, strip)), "a strip")
            rgb = _RGBImage()
            lib.avifRGBImageSetDefaults(ctypes.byref(rgb), view)
            rgb.format, rgb.depth, rgb.chroma_upsampling = layout, 8, _UPSAMPLING_BILINEAR
            rgb.pixels = address
            rgb.row_bytes = width * channels
            _check(lib, lib.avifImageYUVToRGB(view, ctypes.byref(rgb)), "converting to RGB")
            pixels = Image.frombuffer(mode, (width, strip), buffer, "raw", mode, 0, 1)
            out.paste(pixels.reduce(factor) if factor > 1 else pixels.copy(), (0, top // factor))
    finally:
        lib.avifImageDestroy(view)
    return out
