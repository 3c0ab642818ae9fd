"""A single-frame HEIC (one HEVC image item, not a grid) decoded by libde265 directly, so only the decoder's
frame is ever whole: libheif would add its own copy (twice the bytes beyond 8 bits), and decode the alpha
plane beside the colour, so the peaks added up (docs/ingest.md, "Formats and memory").

The item's HEVC stream is its hvcC parameter sets and its data (length-prefixed NAL units); both are read
from the file's boxes (meta/iprp: ipco, ipma; iref for the alpha plane, an auxiliary image marked by auxC),
the data through libheif, which resolves iloc. The colour frame is reduced a strip at a time by
picops.core.ingest.heif's strip machinery (the matrix and range of the item's nclx colr box, else of the
stream's VUI, as libheif chooses) and released before the alpha frame is decoded and reduced, so the two
frames are never held together. irot, imir and clap are applied to the reduced image as for a grid
(picops.core.ingest.heif_tiles).

None (the caller decodes through libheif) when libde265 cannot be loaded, the item is not HEVC, its planes
are not a kind converted here, or its layout is one this reader does not follow.
"""

from __future__ import annotations

import ctypes
import functools
import struct
from dataclasses import dataclass
from typing import Any

from PIL import Image

from picops.core.ingest import heif, heif_boxes, heif_tiles, libde265

_HVC1 = int.from_bytes(b"hvc1", "big")


@dataclass(frozen=True)
class _Item:
    """What the boxes say about an HEVC image item: its parameter sets, NAL length size, luma bit depth and
    coded size."""

    parameter_sets: tuple[bytes, ...]
    length_size: int
    bits: int
    width: int
    height: int

    @property
    def sao(self) -> bool:
        """Whether to apply HEVC's SAO filter: beyond 8 bits its second frame would take a 12 MP photo past
        64 MB above baseline (~90 instead of ~56 MB measured), so it is skipped there."""
        return self.bits <= 8

    @property
    def max_pixels(self) -> int:
        """What the stream may announce: the ispe size and a coding tree block (64 px) of padding each way,
        libheif's own bound."""
        return (self.width + 64) * (self.height + 64)


def _item(data: bytes, meta: heif_boxes.Meta, item: int) -> _Item | None:
    hvcc, ispe = (
        heif_boxes.property_box(data, meta, item, b"hvcC"),
        heif_boxes.property_box(data, meta, item, b"ispe"),
    )
    if hvcc is None or ispe is None:
        return None
    start, end = hvcc
    # HEVCDecoderConfigurationRecord: bitDepthLumaMinus8 at byte 17, lengthSizeMinusOne at 21, then arrays.
    bits, length_size = (data[start + 17] & 7) + 8, (data[start + 21] & 3) + 1
    sets, at = [], start + 23
    for _ in range(data[start + 22]):
        (count,), at = struct.unpack_from(">H", data, at + 1), at + 3
        for _ in range(count):
            (size,) = struct.unpack_from(">H", data, at)
            sets.append(data[at + 2 : at + 2 + size])
            at += 2 + size
    if at > end:
        raise heif.HeifError("reading: a broken hvcC box")
    width, height = struct.unpack_from(">II", data, ispe[0] + 4)
    return _Item(tuple(sets), length_size, bits, width, height)


@functools.cache
def _library() -> ctypes.CDLL | None:
    """heif's libheif with the item calls declared; None without them or without libde265."""
    lib = heif_tiles._library()
    if lib is None or not libde265.available():
        return None
    p, u32 = ctypes.c_void_p, ctypes.c_uint32
    signatures: dict[str, tuple[list[Any], Any]] = {
        "heif_item_get_item_data": (
            [p, u32, p, ctypes.POINTER(p), ctypes.POINTER(ctypes.c_size_t)],
            heif._Error,
        ),
        "heif_release_item_data": ([p, ctypes.POINTER(p)], None),
        "heif_image_handle_get_nclx_color_profile": (
            [p, ctypes.POINTER(ctypes.POINTER(heif._Nclx))],
            heif._Error,
        ),
    }
    return heif.declared(lib, signatures)


def available() -> bool:
    return _library() is not None


_PLANES = {0: 1.0, 1: 1.5, 2: 2.0, 3: 3.0}  # hvcC chromaFormat -> samples per pixel


def frames_per_pixel(data: bytes) -> float | None:
    """Bytes per pixel of the frames libde265 holds at once for the primary image (the frame, and its SAO
    copy when the filter runs), from the boxes alone; None when this path does not apply to the file."""
    meta = heif_boxes.meta(data) if available() else None
    primary = heif_boxes.primary_item(data)
    if meta is None or primary is None:
        return None
    item = _item(data, meta, primary)
    if item is None:
        return None
    hvcc = heif_boxes.property_box(data, meta, primary, b"hvcC")
    planes = _PLANES[data[hvcc[0] + 16] & 3] if hvcc else 3.0
    return (1 if item.bits == 8 else 2) * planes * (2 if item.sao else 1)


def _nals(lib: ctypes.CDLL, context: int, item_id: int, item: _Item) -> list[bytes]:
    """The item's stream: its parameter sets, then the NAL units of its data (libheif resolves iloc)."""
    address, size = ctypes.c_void_p(), ctypes.c_size_t()
    heif._check(
        lib.heif_item_get_item_data(context, item_id, None, ctypes.byref(address), ctypes.byref(size)),
        "reading",
    )
    try:
        stream = ctypes.string_at(address, size.value) if address else b""
    finally:
        if address:
            lib.heif_release_item_data(context, ctypes.byref(address))
    nals, at = list(item.parameter_sets), 0
    while at + item.length_size <= len(stream):
        length = int.from_bytes(stream[at : at + item.length_size], "big")
        at += item.length_size
        if at + length > len(stream):
            raise heif.HeifError("reading: a NAL unit runs past the item's data")
        nals.append(stream[at : at + length])
        at += length
    return nals


def _nclx(lib: ctypes.CDLL, handle: ctypes.c_void_p) -> tuple[int, bool] | None:
    """The item's nclx colr box (matrix, full range), which libheif prefers over the stream's VUI."""
    nclx = ctypes.POINTER(heif._Nclx)()
    if lib.heif_image_handle_get_nclx_color_profile(handle, ctypes.byref(nclx)).code != 0:
        return None
    try:
        return nclx.contents.matrix_coefficients, bool(nclx.contents.full_range_flag)
    finally:
        lib.heif_nclx_color_profile_free(nclx)


def decode_reduced(data: bytes, factor: int) -> Image.Image | None:
    """The primary image, one HEVC frame, reduced by `factor` (the mean of each block) and transformed as
    libheif would: RGB, RGBA with alpha; None when this path does not apply (see the module's docstring)."""
    lib = _library()
    if lib is None:
        return None
    context, handle = lib.heif_context_alloc(), ctypes.c_void_p()
    try:
        heif._check(lib.heif_context_read_from_memory_without_copy(context, data, len(data), None), "reading")
        heif._check(
            lib.heif_context_get_primary_image_handle(context, ctypes.byref(handle)), "the primary image"
        )
        primary = lib.heif_image_handle_get_item_id(handle)
        meta = heif_boxes.meta(data)
        if meta is None or lib.heif_item_get_item_type(context, primary) != _HVC1:
            return None
        if lib.heif_image_handle_is_premultiplied_alpha(handle):
            return None
        colour = _item(data, meta, primary)
        alpha_id = (
            heif_boxes.alpha_item(data, meta, primary)
            if lib.heif_image_handle_has_alpha_channel(handle)
            else None
        )
        alpha = _item(data, meta, alpha_id) if alpha_id is not None else None
        if colour is None or (lib.heif_image_handle_has_alpha_channel(handle) and alpha is None):
            return None
        steps = heif_tiles.transformations(lib, context, handle, colour.width, colour.height)
        if steps is None:
            return None
        use = functools.partial(_colour, colour, factor, _nclx(lib, handle))
        reduced = libde265.decode(
            _nals(lib, context, primary, colour), use, max_pixels=colour.max_pixels, sao=colour.sao
        )
        if reduced is None:
            return None
        if alpha is not None and alpha_id is not None:
            use_alpha = functools.partial(_alpha, factor, reduced.size)
            plane = libde265.decode(
                _nals(lib, context, alpha_id, alpha), use_alpha, max_pixels=alpha.max_pixels, sao=alpha.sao
            )
            if plane is None:
                return None
            reduced.putalpha(plane)
        return heif_tiles.transformed(reduced, steps, factor)
    finally:
        if handle:
            lib.heif_image_handle_release(handle)
        lib.heif_context_free(context)


def _colour(
    item: _Item, factor: int, nclx: tuple[int, bool] | None, picture: libde265.Picture
) -> Image.Image | None:
    """The colour frame reduced and converted while libde265 still holds it."""
    if picture.chroma not in ("420", "444") or (picture.width, picture.height) != (item.width, item.height):
        return None
    if len(set(picture.bits)) != 1 or not 8 <= picture.bits[0] <= 16:
        return None
    matrix, full_range = nclx if nclx is not None else (picture.matrix, picture.full_range)
    if matrix not in heif._MATRICES:
        return None
    kr, kb = heif._MATRICES[matrix]
    layout = heif._Layout(kr, kb, full_range, picture.bits[0], 0)
    luma, cb, cr = picture.planes
    sub = 2 if picture.chroma == "420" else 1
    out = Image.new("RGB", (-(-picture.width // factor), -(-picture.height // factor)))
    heif.reduce_rows(heif.Planes(luma, cb, cr, None), picture.height, factor, sub, layout, out, 0)
    return out


def _alpha(factor: int, size: tuple[int, int], picture: libde265.Picture) -> Image.Image | None:
    """The alpha frame's luma reduced to an "L" plane of `size` (libheif scales a differently sized one)."""
    bits = picture.bits[0]
    if not 8 <= bits <= 16:
        return None
    luma = picture.planes[0]
    out = Image.new("L", (-(-picture.width // factor), -(-picture.height // factor)))
    for top in range(0, picture.height, heif._STRIP_ROWS * factor):
        count = min(heif._STRIP_ROWS * factor, picture.height - top)
        strip = heif._reduce(heif._rows(luma, top, count, bits), factor)
        out.paste(heif._to_l(strip, bits), (0, top // factor))
    return out if out.size == size else out.resize(size, Image.Resampling.BILINEAR)
