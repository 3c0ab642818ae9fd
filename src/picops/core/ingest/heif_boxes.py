"""The few ISOBMFF boxes of a HEIF file that the HEIC decoders read themselves, from the bytes alone: item
properties (meta/iprp: ipco, ipma), the primary item (pitm) and auxiliary images (iref auxl, auxC).

libheif parses these too, but does not hand out every property's bytes (hvcC, for one) nor says which
auxiliary item is a grid's alpha plane; these readers answer that and raise HeifError on a box that runs
past its parent.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from picops.core.ingest.heif import HeifError

_ALPHA_URNS = (b"urn:mpeg:hevc:2015:auxid:1", b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha")


def boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each box in data[start:end]."""
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, start + 8)
            header = 16
        elif size == 0:
            size = end - start
        if size < header or start + size > end:
            raise HeifError(f"reading: a broken {kind!r} box")
        yield kind, start + header, start + size
        start += size


def child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    return next(((s, e) for k, s, e in boxes(data, start, end) if k == kind), None)


@dataclass(frozen=True)
class Meta:
    properties: list[tuple[bytes, int, int]]  # ipco's boxes, in order (ipma counts from 1)
    associations: dict[int, list[int]]  # item -> property indices
    auxiliaries: dict[int, list[int]]  # item -> the items it is an auxiliary image of (iref auxl)


def meta(data: bytes) -> Meta | None:
    meta = child(data, 0, len(data), b"meta")
    iprp = meta and child(data, meta[0] + 4, meta[1], b"iprp")
    ipco = iprp and child(data, iprp[0], iprp[1], b"ipco")
    if not meta or not iprp or not ipco:
        return None
    associations: dict[int, list[int]] = {}
    for kind, start, end in boxes(data, iprp[0], iprp[1]):
        if kind == b"ipma":
            associations.update(_ipma(data, start, end))
    iref = child(data, meta[0] + 4, meta[1], b"iref")
    return Meta(list(boxes(data, *ipco)), associations, _auxl(data, *iref) if iref else {})


def _ipma(data: bytes, start: int, end: int) -> Iterator[tuple[int, list[int]]]:
    version, flags = data[start], int.from_bytes(data[start + 1 : start + 4], "big")
    (count,), at = struct.unpack_from(">I", data, start + 4), start + 8
    for _ in range(count):
        if at >= end:
            raise HeifError("reading: a broken ipma box")
        item, at = struct.unpack_from(">I" if version else ">H", data, at)[0], at + (4 if version else 2)
        indices, associations = [], data[at]
        at += 1
        for _ in range(associations):
            if flags & 1:  # 15-bit property indices
                indices.append(struct.unpack_from(">H", data, at)[0] & 0x7FFF)
                at += 2
            else:
                indices.append(data[at] & 0x7F)
                at += 1
        yield item, indices


def _auxl(data: bytes, start: int, end: int) -> dict[int, list[int]]:
    wide = data[start] == 1  # iref version 1: 32-bit item IDs
    form, size = (">I", 4) if wide else (">H", 2)
    found: dict[int, list[int]] = {}
    for kind, at, _end in boxes(data, start + 4, end):
        source = struct.unpack_from(form, data, at)[0]
        (count,) = struct.unpack_from(">H", data, at + size)
        targets = [struct.unpack_from(form, data, at + size + 2 + i * size)[0] for i in range(count)]
        if kind == b"auxl":
            found[source] = targets
    return found


def property_box(data: bytes, meta: Meta, item: int, kind: bytes) -> tuple[int, int] | None:
    for index in meta.associations.get(item, []):
        if 0 < index <= len(meta.properties) and meta.properties[index - 1][0] == kind:
            return meta.properties[index - 1][1], meta.properties[index - 1][2]
    return None


def alpha_item(data: bytes, meta: Meta, primary: int) -> int | None:
    for source, targets in meta.auxiliaries.items():
        auxc = property_box(data, meta, source, b"auxC")
        if primary in targets and auxc and data[auxc[0] + 4 : auxc[1]].split(b"\0")[0] in _ALPHA_URNS:
            return source
    return None


def primary_item(data: bytes) -> int | None:
    """The pitm box's item ID."""
    meta = child(data, 0, len(data), b"meta")
    pitm = meta and child(data, meta[0] + 4, meta[1], b"pitm")
    if not pitm:
        return None
    return int(struct.unpack_from(">I" if data[pitm[0]] else ">H", data, pitm[0] + 4)[0])
