"""Rendition sets: the images ingest writes per upload, from one decode (docs/ingest.md, "Renditions").

`[ingest] renditions` lists `{name, max_size, format, quality}`; unset, the set is today's single rendition
named `thumbnail`: `[ingest] thumbnail_size` px, JPEG at `[ingest] thumbnail_quality`. Keys: the rendition
named `thumbnail` keeps `thumbnails/<key>.<ext>` (what every existing consumer reads); any other is
`thumbnails/<name>/<key>.<ext>`. The upload is decoded once, at the largest rendition's size (a reduced
decode where the codec has one), made upright and sRGB; each smaller rendition is resampled from the one
above it, so the set costs one decode and a few small resizes.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PIL import Image

from picops.core.ingest.decode import Source
from picops.core.ingest.thumbnails import fit_within, fitted, prepare
from picops.stack.state_objects import INGEST_OUTPUT_PREFIX

if TYPE_CHECKING:
    # The handler's settings are read on its first invocation, not at import (docs/architecture.md, "Cold
    # start"): only the annotation needs the model.
    from picops.config import IngestSettings

DEFAULT_NAME = "thumbnail"
EXTENSIONS = {"jpeg": "jpg", "webp": "webp", "avif": "avif"}
CONTENT_TYPES = {"jpeg": "image/jpeg", "webp": "image/webp", "avif": "image/avif"}
# AVIF's encoder effort: 0 (slowest, smallest) to 10; at 6 a 1024 px rendition encodes in well under a second.
AVIF_SPEED = 6
WEBP_METHOD = 4


@dataclass(frozen=True)
class Rendition:
    name: str
    max_size: int
    format: str = "jpeg"
    quality: int = 85

    def key(self, source_key: str) -> str:
        extension = EXTENSIONS[self.format]
        if self.name == DEFAULT_NAME:
            return f"{INGEST_OUTPUT_PREFIX}{source_key}.{extension}"
        return f"{INGEST_OUTPUT_PREFIX}{self.name}/{source_key}.{extension}"


def default_renditions(size: int = 256, quality: int = 85) -> tuple[Rendition, ...]:
    return (Rendition(DEFAULT_NAME, size, "jpeg", quality),)


def renditions_from(ingest: IngestSettings) -> tuple[Rendition, ...]:
    if ingest.renditions is None:
        return default_renditions(ingest.thumbnail_size, ingest.thumbnail_quality)
    return tuple(Rendition(r.name, r.max_size, r.format, r.quality) for r in ingest.renditions)


@dataclass(frozen=True)
class Rendered:
    rendition: Rendition
    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class RenderedSet:
    outputs: tuple[Rendered, ...]  # in the order the renditions were listed
    source: Source
    milliseconds: float


def make_renditions(
    data: bytes, renditions: Sequence[Rendition], *, max_pixels: int, budget: int | None = None
) -> RenderedSet:
    """Every rendition of `data`; ImageRejected for content that can never work."""
    if not renditions:
        raise ValueError("at least one rendition")
    began = time.perf_counter()
    largest_first = sorted(renditions, key=lambda r: -r.max_size)
    source, current = prepare(data, size=largest_first[0].max_size, max_pixels=max_pixels, budget=budget)
    made: dict[str, Rendered] = {}
    upright = (source.height, source.width) if source.orientation >= 5 else (source.width, source.height)
    for rendition in largest_first:
        current = fit_within(current, fitted(*upright, rendition.max_size))
        made[rendition.name] = Rendered(rendition, encode(current, rendition), current.width, current.height)
    outputs = tuple(made[r.name] for r in renditions)
    return RenderedSet(outputs, source, (time.perf_counter() - began) * 1000)


def encode(image: Image.Image, rendition: Rendition) -> bytes:
    out = io.BytesIO()
    if rendition.format == "jpeg":
        image.save(out, "JPEG", quality=rendition.quality, optimize=True)
    elif rendition.format == "webp":
        image.save(out, "WEBP", quality=rendition.quality, method=WEBP_METHOD)
    elif rendition.format == "avif":
        image.save(out, "AVIF", quality=rendition.quality, speed=AVIF_SPEED)
    else:
        raise ValueError(f"rendition {rendition.name}: format {rendition.format!r} is not jpeg, webp or avif")
    return out.getvalue()


def store(
    s3: Any, bucket: str, rendered: RenderedSet, source_key: str, metadata: dict[str, str]
) -> list[dict[str, Any]]:
    """PutObject of every rendition (each with `metadata`); the job record's and notification's list."""
    listed = []
    for output in rendered.outputs:
        rendition = output.rendition
        key = rendition.key(source_key)
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=output.data,
            ContentType=CONTENT_TYPES[rendition.format],
            Metadata=metadata,
        )
        listed.append(
            {
                "name": rendition.name,
                "key": key,
                "format": rendition.format,
                "width": output.width,
                "height": output.height,
                "bytes": len(output.data),
            }
        )
    return listed


def job_fields(rendered: RenderedSet, listed: list[dict[str, Any]]) -> dict[str, Any]:
    """The job item's image attributes: the first rendition's size (as before rendition sets), the source's
    format and pixel count, and every rendition."""
    source = rendered.source
    return {
        "width": listed[0]["width"],
        "height": listed[0]["height"],
        "source_format": source.format.lower(),
        "source_pixels": source.width * source.height,
        "renditions": listed,
    }
