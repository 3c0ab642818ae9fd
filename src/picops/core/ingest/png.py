"""PNG's decode with ISA-L's inflate: the same pixels as Pillow's, in about two thirds of the time.

A PNG has no reduced decode: every row must be inflated and unfiltered, and inflating is most of the time
(docs/ingest.md, "Formats and memory"). Pillow inflates with the system's zlib; ISA-L (the `isal`
distribution) inflates the same stream about twice as fast. Pillow's own PNG decoder still unfilters the rows
and lays out the pixels (every bit depth, palette, interlacing), fed the already inflated rows wrapped in
*stored* deflate blocks, which its zlib copies through without decompressing. The rows pass through in
bounded pieces (`_PIECE`), so memory stays Pillow's own: the decoded image plus a few hundred KiB.

Without `isal` (or for an animated PNG, whose frames Pillow composes itself) `decode` returns False and the
caller decodes with Pillow alone. The header is read without decoding, and so is an eXIf chunk stored after
the image data (`late_exif`): Pillow's `getexif()` decodes the whole image to find one.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from PIL import Image, PngImagePlugin

# Inflated bytes handed to Pillow's decoder per call; a stored deflate block holds at most 65,535.
_PIECE = 256 * 1024
_STORED_MAX = 0xFFFF
# A zlib stream header (deflate, 32 KiB window, no preset dictionary) whose check bits are right.
_ZLIB_HEADER = b"\x78\x01"
_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class PngError(ValueError):
    """The image data cannot be inflated or does not fill the image."""


@functools.cache
def _isal() -> ModuleType | None:
    try:
        from isal import isal_zlib
    except ImportError:
        return None
    return isal_zlib


def available() -> bool:
    return _isal() is not None


def decode(image: Image.Image, data: bytes) -> bool:
    """Decode `image` (opened from `data`, nothing decoded yet) in place; False leaves it to Pillow."""
    inflater = _isal()
    if inflater is None or not isinstance(image, PngImagePlugin.PngImageFile):
        return False
    if getattr(image, "n_frames", 1) != 1 or len(image.tile) != 1 or image.tile[0].codec_name != "zip":
        return False
    tile = image.tile[0]
    image.load_prepare()  # the pixel memory (and palette); adds the interlace flag to the decoder's config
    decoder = Image._getdecoder(image.mode, "zip", tile.args, image.decoderconfig)
    decoder.setimage(image.im, tile.extents)
    try:
        _feed(decoder, _stored_blocks(inflater.decompressobj(), _idat(data, tile.offset)))
    except inflater.error as exc:
        raise PngError(f"image data cannot be inflated: {exc}") from None
    finally:
        decoder.cleanup()
    image.tile = []  # loaded: Pillow's load() now only returns the pixels
    return True


def _feed(decoder: Any, pieces: Iterator[bytes]) -> None:
    pending = _ZLIB_HEADER
    for piece in pieces:
        pending += piece
        consumed, status = decoder.decode(pending)
        if consumed < 0:
            if status < 0:
                raise PngError(f"the image data is broken (decoder status {status})")
            return
        pending = pending[consumed:]
    raise PngError("the image data ends before the image does")


def _stored_blocks(inflater: object, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The inflated stream, in pieces of at most `_PIECE` bytes, each as stored deflate blocks."""
    for chunk in chunks:
        tail = chunk
        while tail:
            # max_length bounds what one call may produce: a small chunk can inflate a thousandfold.
            raw = inflater.decompress(tail, _PIECE)  # type: ignore[attr-defined]
            tail = inflater.unconsumed_tail  # type: ignore[attr-defined]
            if raw:
                yield _as_stored(raw)
            if getattr(inflater, "eof", False):
                return


def _as_stored(raw: bytes) -> bytes:
    view = memoryview(raw)
    blocks: list[bytes | memoryview] = []
    for start in range(0, len(raw), _STORED_MAX):
        block = view[start : start + _STORED_MAX]
        # BFINAL=0, BTYPE=00 and padding to the byte boundary, then LEN and its one's complement.
        blocks.append(struct.pack("<BHH", 0, len(block), len(block) ^ 0xFFFF))
        blocks.append(block)
    return b"".join(blocks)


def _idat(data: bytes, offset: int) -> Iterator[bytes]:
    """The payloads of the IDAT chunks from the one whose data starts at `offset` (from Pillow's header)."""
    position = offset - 8
    while position + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        if kind != b"IDAT":
            return
        yield data[position + 8 : position + 8 + length]
        position += 12 + length


def late_exif(data: bytes) -> bytes | None:
    """The payload of an eXIf chunk wherever it is (PNG allows one after the image data), read by walking
    the chunk headers only."""
    if not data.startswith(_SIGNATURE):
        return None
    position = len(_SIGNATURE)
    while position + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        if kind == b"eXIf":
            return data[position + 8 : position + 8 + length]
        if kind == b"IEND":
            return None
        position += 12 + length
    return None
