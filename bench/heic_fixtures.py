"""HEICs laid out as cameras and phones write them, for the bench and the tests: a grid of 512 px HEVC tiles
(edge tiles cropped by the grid's output size), 8 or 10 bits, an alpha plane as its own grid (an auxiliary
image of the colour grid, as Apple writes it), EXIF orientation as irot/imir, an ICC profile and EXIF.

pillow-heif's encoder writes one HEVC frame whatever the size, so these are built with libheif's own grid
encoder (the libheif and x265 pillow-heif's wheel ships) through ctypes. Importable without the tests and
without picops' ingest modules beyond finding that libheif.
"""

from __future__ import annotations

import ctypes
import functools
import struct
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image

_RGB, _MONOCHROME = 1, 2
_CHROMA_MONO, _CHROMA_RGB, _CHROMA_RGBA, _CHROMA_RRGGBB_LE = 0, 10, 11, 14
_CHANNEL_Y, _CHANNEL_INTERLEAVED = 0, 10
_HEVC = 1
_ALPHA_URN = b"urn:mpeg:hevc:2015:auxid:1\0"
TILE = 512


class _Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("subcode", ctypes.c_int), ("message", ctypes.c_char_p)]


def _fourcc(text: str) -> int:
    return int.from_bytes(text.encode(), "big")


@functools.cache
def _lib() -> ctypes.CDLL:
    import pillow_heif

    found = sorted((Path(pillow_heif.__file__).parent.parent / "pillow_heif.libs").glob("libheif-*.so*"))
    if not found:
        raise RuntimeError("no libheif next to pillow-heif")
    lib = ctypes.CDLL(str(found[0]))
    p, e, i, u32 = ctypes.c_void_p, _Error, ctypes.c_int, ctypes.c_uint32
    signatures: dict[str, tuple[list[Any], Any]] = {
        "heif_init": ([p], e),
        "heif_context_alloc": ([], p),
        "heif_context_free": ([p], None),
        "heif_image_create": ([i, i, i, i, ctypes.POINTER(p)], e),
        "heif_image_add_plane": ([p, i, i, i, i], e),
        "heif_image_get_plane": ([p, i, ctypes.POINTER(i)], p),
        "heif_image_set_raw_color_profile": ([p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t], e),
        "heif_image_release": ([p], None),
        "heif_context_get_encoder_for_format": ([p, i, ctypes.POINTER(p)], e),
        "heif_encoder_set_lossy_quality": ([p, i], e),
        "heif_encoder_set_parameter_string": ([p, ctypes.c_char_p, ctypes.c_char_p], e),
        "heif_encoder_release": ([p], None),
        "heif_encoding_options_alloc": ([], p),
        "heif_encoding_options_free": ([p], None),
        "heif_context_add_grid_image": ([p, u32, u32, u32, u32, p, ctypes.POINTER(p)], e),
        "heif_context_add_image_tile": ([p, p, u32, u32, p, p], e),
        "heif_image_handle_get_item_id": ([p], u32),
        "heif_image_handle_release": ([p], None),
        "heif_context_add_item_reference": ([p, u32, u32, u32], e),
        "heif_item_add_raw_property": ([p, u32, u32, p, ctypes.c_char_p, ctypes.c_size_t, i, p], e),
        "heif_context_set_primary_image": ([p, p], e),
        "heif_context_add_exif_metadata": ([p, p, ctypes.c_char_p, i], e),
        "heif_context_write_to_file": ([p, ctypes.c_char_p], e),
    }
    for name, (argtypes, restype) in signatures.items():
        getattr(lib, name).argtypes = argtypes
        getattr(lib, name).restype = restype
    lib.heif_init(None)
    return lib


def _check(error: _Error, what: str) -> None:
    if error.code != 0:
        raise RuntimeError(f"libheif {what}: {(error.message or b'').decode(errors='replace')}")


def _heif_image(tile: Image.Image, bits: int, profile: bytes | None) -> ctypes.c_void_p:
    """A libheif image of an RGB, RGBA (8 bits) or L tile (RGB at 16 bits a sample widened to `bits` when
    over 8)."""
    lib, image = _lib(), ctypes.c_void_p()
    mono = tile.mode == "L"
    if mono:
        space, chroma, channel, raw, depth = _MONOCHROME, _CHROMA_MONO, _CHANNEL_Y, tile.tobytes(), 8
    elif bits == 8:
        interleaved = _CHROMA_RGBA if tile.mode == "RGBA" else _CHROMA_RGB
        space, chroma, channel, raw, depth = _RGB, interleaved, _CHANNEL_INTERLEAVED, tile.tobytes(), 8
    else:
        # v * 2^bits / 256 little-endian: the same colour at `bits` bits a sample.
        narrow = tile.tobytes()
        widened = [(v << (bits - 8)) | (v >> (16 - bits)) for v in range(256)]
        wide = bytearray(2 * len(narrow))
        wide[0::2] = narrow.translate(bytes(w & 0xFF for w in widened))
        wide[1::2] = narrow.translate(bytes(w >> 8 for w in widened))
        space, chroma, channel, raw, depth = _RGB, _CHROMA_RRGGBB_LE, _CHANNEL_INTERLEAVED, bytes(wide), bits
    _check(lib.heif_image_create(tile.width, tile.height, space, chroma, ctypes.byref(image)), "image")
    _check(lib.heif_image_add_plane(image, channel, tile.width, tile.height, depth), "plane")
    stride = ctypes.c_int()
    address = lib.heif_image_get_plane(image, channel, ctypes.byref(stride))
    row = len(raw) // tile.height
    for y in range(tile.height):
        ctypes.memmove(address + y * stride.value, raw[y * row : (y + 1) * row], row)
    if profile and not mono:
        _check(lib.heif_image_set_raw_color_profile(image, b"prof", profile, len(profile)), "profile")
    return image


def _add_grid(
    context: ctypes.c_void_p,
    encoder: ctypes.c_void_p,
    image: Image.Image,
    bits: int,
    orientation: int,
    profile: bytes | None,
    tile: int,
) -> ctypes.c_void_p:
    lib = _lib()
    columns, rows = -(-image.width // tile), -(-image.height // tile)
    options = lib.heif_encoding_options_alloc()
    # heif_encoding_options v5+: image_orientation (an int after the nclx pointer and a byte): irot/imir.
    ctypes.c_int.from_address(options + 20).value = orientation
    handle = ctypes.c_void_p()
    try:
        _check(
            lib.heif_context_add_grid_image(
                context, image.width, image.height, columns, rows, options, ctypes.byref(handle)
            ),
            "grid",
        )
        for ty in range(rows):
            for tx in range(columns):
                # Every tile is whole; the grid's output size crops the edge ones (beyond the image: black).
                piece = image.crop((tx * tile, ty * tile, (tx + 1) * tile, (ty + 1) * tile))
                heif_tile = _heif_image(piece, bits, profile)
                try:
                    _check(
                        lib.heif_context_add_image_tile(context, handle, tx, ty, heif_tile, encoder), "tile"
                    )
                finally:
                    lib.heif_image_release(heif_tile)
    finally:
        lib.heif_encoding_options_free(options)
    return handle


def grid_heic(
    image: Image.Image,
    *,
    bits: int = 8,
    orientation: int = 1,
    profile: bytes | None = None,
    exif: bytes | None = None,
    quality: int = 85,
    tile: int = TILE,
    alpha_per_tile: bool = False,
    clap: tuple[int, int, int, int] | None = None,
) -> bytes:
    """`image` (RGB, or RGBA for an alpha grid) as a grid HEIC of `tile` px tiles; `orientation` (EXIF's
    1-8) is written as irot/imir, which libheif applies as it decodes (the pixels are stored turned back).
    `alpha_per_tile` (8 bits): each tile carries its own alpha plane instead (libheif's own grid encoder).
    `clap` (width, height, horizontal and vertical offset of the centre, in pixels) adds a clean aperture,
    which libheif applies to the stored pixels before irot/imir (the order HEIF prescribes)."""
    lib = _lib()
    context, encoder = lib.heif_context_alloc(), ctypes.c_void_p()
    handles: list[ctypes.c_void_p] = []
    try:
        _check(lib.heif_context_get_encoder_for_format(context, _HEVC, ctypes.byref(encoder)), "encoder")
        lib.heif_encoder_set_lossy_quality(encoder, quality)
        if bits == 8:
            lib.heif_encoder_set_parameter_string(encoder, b"chroma", b"420")
        stored = _stored(image, orientation)
        tiles = stored if alpha_per_tile and image.mode == "RGBA" else stored.convert("RGB")
        colour = _add_grid(context, encoder, tiles, bits, orientation, profile, tile)
        handles.append(colour)
        _check(lib.heif_context_set_primary_image(context, colour), "primary")
        if clap:
            box = struct.pack(">8i", clap[0], 1, clap[1], 1, clap[2], 1, clap[3], 1)  # fractions over 1
            item = lib.heif_image_handle_get_item_id(colour)
            _check(
                lib.heif_item_add_raw_property(context, item, _fourcc("clap"), None, box, len(box), 1, None),
                "clap",
            )
        if image.mode == "RGBA" and not alpha_per_tile:
            alpha = _add_grid(context, encoder, stored.getchannel("A"), 8, orientation, None, tile)
            handles.append(alpha)
            _link_alpha(context, alpha, colour)
        if exif:
            _check(lib.heif_context_add_exif_metadata(context, colour, exif, len(exif)), "exif")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "grid.heic"
            _check(lib.heif_context_write_to_file(context, str(path).encode()), "write")
            return path.read_bytes()
    finally:
        for handle in handles:
            lib.heif_image_handle_release(handle)
        if encoder:
            lib.heif_encoder_release(encoder)
        lib.heif_context_free(context)


def _link_alpha(context: ctypes.c_void_p, alpha: ctypes.c_void_p, colour: ctypes.c_void_p) -> None:
    lib = _lib()
    alpha_id = lib.heif_image_handle_get_item_id(alpha)
    colour_id = lib.heif_image_handle_get_item_id(colour)
    _check(lib.heif_context_add_item_reference(context, _fourcc("auxl"), alpha_id, colour_id), "auxl")
    auxc = bytes(4) + _ALPHA_URN  # a full box: version and flags, then the URN
    _check(
        lib.heif_item_add_raw_property(context, alpha_id, _fourcc("auxC"), None, auxc, len(auxc), 0, None),
        "auxC",
    )


# EXIF orientation -> the transposition that undoes it (the pixels as stored, for irot/imir to turn back).
_UNDO = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def _stored(image: Image.Image, orientation: int) -> Image.Image:
    """The pixels a camera stores for an upright `image` shown with `orientation`."""
    undo = _UNDO.get(orientation)
    return image.transpose(undo) if undo is not None else image
