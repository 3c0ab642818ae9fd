"""A grid HEIC (what cameras and phones write: 512 px HEVC tiles) decoded a tile at a time and reduced as it
goes, so memory holds one tile and one band of rows, never the frame.

libheif's whole-image decode of a grid pastes every tile into one frame (and, beyond 8 bits or with alpha,
holds more copies), ~92 MB above baseline for a 12 MP 10-bit photo. Here each tile is decoded by itself
(`heif_image_handle_decode_image_tile`, libheif >= 1.19) as YCbCr planes, with its alpha tile (from an
alpha grid or the tile's own alpha plane), and copied into a band one tile row high; the band is reduced by
the strip machinery of picops.core.ingest.heif (the same colour maths) and what does not fill a whole
reduction block is carried into the next band.

The geometric transformations are applied to the reduced image, in the order libheif lists them (clap,
irot, imir, as HEIF prescribes) and as libheif applies them to the whole one: irot and imir exactly (a
block-aligned reduction commutes with them; when the factor does not divide the size, the partial blocks
lie on the stored edge rather than the displayed one: under one reduced pixel), clap at the reduced scale
(its edges rounded to the nearest reduced pixel). Tiles are decoded untransformed (libheif's tile
coordinates are then the file's), since the transformed tiling's offsets would have to be trusted for
partial edge tiles.

None (the caller decodes the whole image) when libheif lacks the tile API, the image is not a grid, its
planes are not a kind converted here, or its transformations are not ones handled here.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import queue
from collections import deque
from collections.abc import Generator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PIL import Image

from picops.core.ingest import heif, heif_boxes

_IROT, _IMIR, _CLAP, _GRID = (int.from_bytes(name, "big") for name in (b"irot", b"imir", b"clap", b"grid"))
_MAX_TRANSFORMS = 8
# Tiles decoded side by side (libheif's own whole-image decode of a grid uses every core too).
_MAX_WORKERS = 4


class _Tiling(ctypes.Structure):
    # heif_image_tiling, version 1.
    _fields_ = [
        ("version", ctypes.c_int),
        ("num_columns", ctypes.c_uint32),
        ("num_rows", ctypes.c_uint32),
        ("tile_width", ctypes.c_uint32),
        ("tile_height", ctypes.c_uint32),
        ("image_width", ctypes.c_uint32),
        ("image_height", ctypes.c_uint32),
        ("top_offset", ctypes.c_uint32),
        ("left_offset", ctypes.c_uint32),
        ("number_of_extra_dimensions", ctypes.c_uint8),
        ("extra_dimension_size", ctypes.c_uint32 * 8),
    ]


@functools.cache
def _library() -> ctypes.CDLL | None:
    """heif's libheif with the tile API declared; None when it is missing (libheif < 1.19)."""
    lib = heif._library()
    if lib is None:
        return None
    p, u32, i = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int
    signatures: dict[str, tuple[list[Any], Any]] = {
        "heif_image_handle_get_image_tiling": ([p, i, ctypes.POINTER(_Tiling)], heif._Error),
        "heif_image_handle_decode_image_tile": ([p, ctypes.POINTER(p), i, i, p, u32, u32], heif._Error),
        "heif_decoding_options_alloc": ([], p),
        "heif_decoding_options_free": ([p], None),
        "heif_image_handle_get_item_id": ([p], u32),
        "heif_item_get_item_type": ([p, u32], u32),
        "heif_item_get_transformation_properties": ([p, u32, ctypes.POINTER(u32), i], i),
        "heif_item_get_property_type": ([p, u32, u32], u32),
        "heif_item_get_property_transform_rotation_ccw": ([p, u32, u32], i),
        "heif_item_get_property_transform_mirror": ([p, u32, u32], i),
        "heif_item_get_property_transform_crop_borders": (
            [p, u32, u32, i, i] + [ctypes.POINTER(i)] * 4,
            None,
        ),
    }
    return heif.declared(lib, signatures)


def available() -> bool:
    return _library() is not None


def grid_tile(data: bytes) -> tuple[int, int] | None:
    """The primary image's tile size when it is a grid of more than one tile (header only); else None."""
    lib = _library()
    if lib is None:
        return None
    context = lib.heif_context_alloc()
    handle = ctypes.c_void_p()
    try:
        heif._check(lib.heif_context_read_from_memory_without_copy(context, data, len(data), None), "reading")
        heif._check(
            lib.heif_context_get_primary_image_handle(context, ctypes.byref(handle)), "the primary image"
        )
        tiling = _tiling(lib, handle)
        return (tiling.tile_width, tiling.tile_height) if tiling else None
    finally:
        if handle:
            lib.heif_image_handle_release(handle)
        lib.heif_context_free(context)


def _tiling(lib: ctypes.CDLL, handle: ctypes.c_void_p) -> _Tiling | None:
    """The grid as stored (untransformed); None for a single image."""
    tiling = _Tiling()
    if lib.heif_image_handle_get_image_tiling(handle, 0, ctypes.byref(tiling)).code != 0:
        return None
    if tiling.num_columns * tiling.num_rows < 2 or not tiling.tile_width or not tiling.tile_height:
        return None
    if tiling.number_of_extra_dimensions:
        return None
    return tiling


def decode_reduced(data: bytes, factor: int) -> Image.Image | None:
    """The primary image, a grid, reduced by `factor` (the mean of each block) and transformed as libheif
    would: RGB, RGBA with alpha; None when this path does not apply (see the module's docstring)."""
    lib = _library()
    if lib is None:
        return None
    decoders = _Decoders(lib, data)
    try:
        handle = decoders.open()
        tiling = _tiling(lib, handle)
        if tiling is None or lib.heif_image_handle_is_premultiplied_alpha(handle):
            return None
        if lib.heif_image_handle_has_alpha_channel(handle) and not _alpha_in_tiles(lib, decoders, data):
            return None
        steps = transformations(lib, decoders.contexts[0], handle, tiling.image_width, tiling.image_height)
        if steps is None:
            return None
        for _ in range(1, min(_workers(), tiling.num_columns * tiling.num_rows)):
            decoders.open()
        reduced = _decode_grid(lib, decoders, tiling, factor)
        return transformed(reduced, steps, factor) if reduced is not None else None
    finally:
        decoders.close()


def _alpha_in_tiles(lib: ctypes.CDLL, decoders: _Decoders, data: bytes) -> bool:
    """Whether libheif's tile decode brings each tile's alpha: true of an alpha grid of the image's size (as
    Apple writes it) and of alpha planes attached to each tile; an alpha image that is one frame would be
    decoded whole for every tile and scaled to it."""
    meta = heif_boxes.meta(data)
    primary = lib.heif_image_handle_get_item_id(decoders.handles[0])
    alpha = heif_boxes.alpha_item(data, meta, primary) if meta else None
    if alpha is None:
        return meta is not None  # no alpha image of the grid itself: the tiles carry theirs
    assert meta is not None
    same_size = heif_boxes.property_box(data, meta, alpha, b"ispe") is not None and _ispe(
        data, meta, alpha
    ) == _ispe(data, meta, primary)
    return bool(lib.heif_item_get_item_type(decoders.contexts[0], alpha) == _GRID and same_size)


def _ispe(data: bytes, meta: heif_boxes.Meta, item: int) -> bytes | None:
    found = heif_boxes.property_box(data, meta, item, b"ispe")
    return data[found[0] + 4 : found[0] + 12] if found else None


def _workers() -> int:
    return max(1, min(_MAX_WORKERS, os.cpu_count() or 1))


class _Decoders:
    """The file opened once per worker thread. libheif decodes one image item at a time (a lock per item), so
    tiles decode side by side only through separate contexts. A context also keeps every tile's compressed
    data it has read until it is freed (a 48 MP photo's ~50 MB by the last row), so the contexts are opened
    afresh for each row of tiles (`reopen`): parsing the boxes again costs a few milliseconds."""

    def __init__(self, lib: ctypes.CDLL, data: bytes) -> None:
        self.lib, self.data = lib, data
        self.contexts: list[int] = []
        self.handles: list[ctypes.c_void_p] = []
        self.idle: queue.SimpleQueue[ctypes.c_void_p] = queue.SimpleQueue()
        self.options: int | None = lib.heif_decoding_options_alloc()
        if not self.options:
            raise heif.HeifError("decoding: libheif could not allocate decoding options")
        # heif_decoding_options: version (uint8), then ignore_transformations (uint8). Untransformed tiles are
        # addressed in the file's own grid; the transformations are applied to the reduced image.
        ctypes.c_uint8.from_address(self.options + 1).value = 1

    def reopen(self) -> None:
        """The same number of contexts, new (what the old ones cached is freed)."""
        count = len(self.handles)
        self._free_contexts()
        for _ in range(count):
            self.open()

    def open(self) -> ctypes.c_void_p:
        lib, context, handle = self.lib, self.lib.heif_context_alloc(), ctypes.c_void_p()
        self.contexts.append(context)
        heif._check(
            lib.heif_context_read_from_memory_without_copy(context, self.data, len(self.data), None),
            "reading",
        )
        heif._check(
            lib.heif_context_get_primary_image_handle(context, ctypes.byref(handle)), "the primary image"
        )
        self.handles.append(handle)
        self.idle.put(handle)
        return handle

    def decode(self, tx: int, ty: int) -> ctypes.c_void_p:
        """One tile's planes as stored (the caller releases the image)."""
        handle, image = self.idle.get(), ctypes.c_void_p()
        try:
            heif._check(
                self.lib.heif_image_handle_decode_image_tile(
                    handle,
                    ctypes.byref(image),
                    heif._COLORSPACE_UNDEFINED,
                    heif._CHROMA_UNDEFINED,
                    self.options,
                    tx,
                    ty,
                ),
                "decoding a tile",
            )
            return image
        finally:
            self.idle.put(handle)

    def _free_contexts(self) -> None:
        for handle in self.handles:
            self.lib.heif_image_handle_release(handle)
        for context in self.contexts:
            self.lib.heif_context_free(context)
        self.handles, self.contexts, self.idle = [], [], queue.SimpleQueue()

    def close(self) -> None:
        self._free_contexts()
        if self.options:
            self.lib.heif_decoding_options_free(self.options)
        self.options = None


def _decoded(decoders: _Decoders, tiling: _Tiling) -> Generator[tuple[int, int, ctypes.c_void_p]]:
    """Every tile in row order, decoded by the workers a few tiles ahead within its row (so only those few
    are held); the consumer releases each image it is given, and closing the iterator releases those
    decoded ahead."""
    workers = len(decoders.handles)
    ahead: deque[tuple[int, int, Future[ctypes.c_void_p]]] = deque()
    with ThreadPoolExecutor(workers) as pool:
        try:
            for ty in range(tiling.num_rows):
                if ty:
                    decoders.reopen()  # every tile of the row before has been handed over
                for tx in range(tiling.num_columns):
                    ahead.append((tx, ty, pool.submit(decoders.decode, tx, ty)))
                    if len(ahead) > 2 * workers:
                        tx0, ty0, future = ahead.popleft()
                        yield tx0, ty0, future.result()
                while ahead:
                    tx0, ty0, future = ahead.popleft()
                    yield tx0, ty0, future.result()
        finally:
            for _tx, _ty, future in ahead:
                with contextlib.suppress(heif.HeifError):
                    decoders.lib.heif_image_release(future.result())


_Step = tuple[str, int, int, int, int]


def transformations(
    lib: ctypes.CDLL, context: int, handle: ctypes.c_void_p, width: int, height: int
) -> list[_Step] | None:
    """irot, imir and clap in libheif's order, each as (kind, ...) at full resolution; None for any other
    transformation, or a clap that does not fit the image (libheif clamps it; the caller leaves it to
    libheif)."""
    item = lib.heif_image_handle_get_item_id(handle)
    ids = (ctypes.c_uint32 * _MAX_TRANSFORMS)()
    count = lib.heif_item_get_transformation_properties(context, item, ids, _MAX_TRANSFORMS)
    if not 0 <= count <= _MAX_TRANSFORMS:
        return None
    steps: list[_Step] = []
    for prop in ids[:count]:
        kind = lib.heif_item_get_property_type(context, item, prop)
        if kind == _IROT:
            angle = lib.heif_item_get_property_transform_rotation_ccw(context, item, prop)
            if angle not in (0, 90, 180, 270):
                return None
            steps.append(("rotate", angle, 0, 0, 0))
            width, height = (height, width) if angle in (90, 270) else (width, height)
        elif kind == _IMIR:
            direction = lib.heif_item_get_property_transform_mirror(context, item, prop)
            if direction not in (0, 1):
                return None
            steps.append(("mirror", direction, 0, 0, 0))
        elif kind == _CLAP:
            edges = [ctypes.c_int() for _ in range(4)]
            lib.heif_item_get_property_transform_crop_borders(
                context, item, prop, width, height, *(ctypes.byref(edge) for edge in edges)
            )
            left, top, right, bottom = (edge.value for edge in edges)
            if min(left, top, right, bottom) < 0 or left + right >= width or top + bottom >= height:
                return None
            steps.append(("crop", left, top, right, bottom))
            width, height = width - left - right, height - top - bottom
        else:
            return None
    return steps


_ROTATIONS = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}
# imir's axis: 0 flips top to bottom (about the horizontal axis), 1 left to right.
_MIRRORS = {0: Image.Transpose.FLIP_TOP_BOTTOM, 1: Image.Transpose.FLIP_LEFT_RIGHT}


def transformed(image: Image.Image, steps: list[_Step], factor: int) -> Image.Image:
    for kind, a, b, c, d in steps:
        if kind == "rotate" and a:
            image = image.transpose(_ROTATIONS[a])
        elif kind == "mirror":
            image = image.transpose(_MIRRORS[a])
        elif kind == "crop":
            left, top = round(a / factor), round(b / factor)
            right, bottom = image.width - round(c / factor), image.height - round(d / factor)
            image = image.crop((left, top, max(right, left + 1), max(bottom, top + 1)))
    return image


def _decode_grid(lib: ctypes.CDLL, decoders: _Decoders, tiling: _Tiling, factor: int) -> Image.Image | None:
    """Tile rows decoded one after the other into a band, each band reduced into the output."""
    band: _Band | None = None
    with contextlib.closing(_decoded(decoders, tiling)) as tiles:
        for tx, ty, image in tiles:
            try:
                layout = heif._layout(lib, image)
                if layout is None:
                    return None
                if band is None:
                    band = _Band(lib, image, layout, tiling, factor)
                elif layout != band.layout:
                    return None
                if not band.paste(lib, image, tx * tiling.tile_width):
                    return None
            finally:
                lib.heif_image_release(image)
            if tx == tiling.num_columns - 1:
                rows = min(tiling.tile_height, tiling.image_height - ty * tiling.tile_height)
                band.reduce(last=ty == tiling.num_rows - 1, rows=rows)
    return band.out if band is not None else None


class _Band:
    """One tile row of planes (plus the rows carried from the one before), full width, as libheif lays a
    plane out (8 bits: a byte a sample; more: two, little-endian)."""

    def __init__(
        self, lib: ctypes.CDLL, tile: ctypes.c_void_p, layout: heif._Layout, tiling: _Tiling, factor: int
    ):
        luma, cb = heif._plane(lib, tile, heif._CHANNEL_Y), heif._plane(lib, tile, heif._CHANNEL_CB)
        self.sub = 2 if cb[2] < luma[2] else 1  # 4:2:0 halves the chroma rows (and columns)
        self.layout, self.factor = layout, factor
        self.width, self.step = tiling.image_width, self.sub * factor
        self.capacity = tiling.tile_height + self.step  # a tile row and what the last one left over
        self.carried = 0  # luma rows at the top left from the band before
        self.done = 0  # luma rows reduced into `out`
        c_width = -(-self.width // self.sub)
        widths = [self.width, c_width, c_width] + ([self.width] if layout.alpha_bits else [])
        heights = [self.capacity] + [-(-self.capacity // self.sub)] * 2 + [self.capacity] * (len(widths) - 3)
        sample = [1 if layout.bits == 8 else 2] * 3 + [1 if layout.alpha_bits == 8 else 2] * (len(widths) - 3)
        self.strides = [w * s for w, s in zip(widths, sample, strict=True)]
        self.widths, self.heights, self.samples = widths, heights, sample
        self.buffers = [
            ctypes.create_string_buffer(st * h) for st, h in zip(self.strides, heights, strict=True)
        ]
        size = (-(-self.width // factor), -(-tiling.image_height // factor))
        self.out = Image.new("RGBA" if layout.alpha_bits else "RGB", size)

    def _channels(self) -> list[int]:
        return [heif._CHANNEL_Y, heif._CHANNEL_CB, heif._CHANNEL_CR, heif._CHANNEL_ALPHA][: len(self.buffers)]

    def paste(self, lib: ctypes.CDLL, tile: ctypes.c_void_p, left: int) -> bool:
        """Copy a decoded tile's planes in at luma column `left` (edge tiles cropped to the image)."""
        for index, channel in enumerate(self._channels()):
            address, width, height, stride = heif._plane(lib, tile, channel)
            scale = self.sub if index in (1, 2) else 1
            x0, top = left // scale, self.carried // scale
            columns = min(width, self.widths[index] - x0)
            rows = min(height, self.heights[index] - top)
            if columns <= 0 or rows <= 0:
                return False
            sample = self.samples[index]
            base = ctypes.addressof(self.buffers[index]) + top * self.strides[index] + x0 * sample
            for row in range(rows):
                ctypes.memmove(base + row * self.strides[index], address + row * stride, columns * sample)
        return True

    def reduce(self, last: bool, rows: int) -> None:
        """Reduce the whole blocks among the band's rows (all of them for the last band); carry the rest."""
        held = self.carried + rows
        ready = held if last else held - held % self.step
        planes = heif.Planes(
            *(
                (ctypes.addressof(buffer), width, -(-ready // (self.sub if i in (1, 2) else 1)), stride)
                for i, (buffer, width, stride) in enumerate(
                    zip(self.buffers, self.widths, self.strides, strict=True)
                )
            ),
            *([None] if len(self.buffers) == 3 else []),
        )
        if ready:
            heif.reduce_rows(
                planes, ready, self.factor, self.sub, self.layout, self.out, self.done // self.factor
            )
        self.done += ready
        self.carried = held - ready
        for index, buffer in enumerate(self.buffers):
            scale = self.sub if index in (1, 2) else 1
            start, count = ready // scale, -(-self.carried // scale)
            stride = self.strides[index]
            ctypes.memmove(
                ctypes.addressof(buffer), ctypes.addressof(buffer) + start * stride, count * stride
            )
