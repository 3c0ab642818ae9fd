"""Every format ingest reads (JPEG, PNG, WebP, GIF, HEIC/HEIF, AVIF) becomes an upright, sRGB, metadata-free
thumbnail within bounded memory; everything else is a permanent failure whose reason names the format."""

from __future__ import annotations

import io
import subprocess
import sys
from typing import Any

import pytest
from PIL import Image, ImageCms

from picops.core.ingest import make_thumbnail
from picops.core.ingest.decode import (
    HEIF_PLANES_BYTES_PER_PIXEL,
    memory_budget,
    sniff,
)
from picops.core.ingest.thumbnails import ImageRejected
from tests import ingest_support as ins

ORIENTED = ("JPEG", "PNG", "WEBP", "HEIF", "AVIF")  # GIF has no EXIF block
RED, BLUE = (220, 20, 20), (20, 20, 220)
P3_COLOUR = (200, 120, 40)


def _p3_profile() -> bytes:
    """Display P3, as libvips ships it (phones tag their photos with it)."""
    import pyvips

    black = pyvips.Image.black(2, 2, bands=3).copy(interpretation="srgb")
    data = black.icc_export(output_profile="p3").get("icc-profile-data")
    assert isinstance(data, bytes)
    return data


def _halves(width: int, height: int) -> Image.Image:
    """Left half red, right half blue: orientation is observable."""
    image = Image.new("RGB", (width, height), RED)
    image.paste(BLUE, (width // 2, 0, width, height))
    return image


def _encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "picops-test-camera"
    exif[0x0112] = orientation
    exif[0x8825] = {2: (1.0, 2.0, 3.0)}  # a GPS IFD: must never reach the output
    return exif.tobytes()


def _pixel(image: Image.Image, x: float, y: float) -> tuple[int, ...]:
    value = image.convert("RGB").getpixel((int(x * (image.width - 1)), int(y * (image.height - 1))))
    assert isinstance(value, tuple)
    return value


def _close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


@pytest.mark.parametrize("fmt", ORIENTED)
def test_orientation_6_is_applied_and_no_metadata_is_written(fmt: str) -> None:
    source = _encode(_halves(1200, 800), fmt, exif=_exif(6))
    thumb = make_thumbnail(source, size=256)
    image = ins.open_image(thumb.data)
    assert thumb.source_format == fmt
    assert (thumb.source_width, thumb.source_height) in ((1200, 800), (800, 1200))
    assert image.format == "JPEG"
    assert max(image.size) == 256
    assert image.height > image.width  # stored landscape, viewed portrait
    assert _close(_pixel(image, 0.5, 0.1), RED, 30)  # the stored left edge is now on top
    assert _close(_pixel(image, 0.5, 0.9), BLUE, 30)
    assert not image.getexif()
    assert "icc_profile" not in image.info


@pytest.mark.parametrize("fmt", ORIENTED)
def test_a_display_p3_profile_is_converted_to_srgb(fmt: str) -> None:
    profile = _p3_profile()
    source = _encode(Image.new("RGB", (320, 240), P3_COLOUR), fmt, icc_profile=profile, quality=95)
    expected = ImageCms.profileToProfile(
        Image.new("RGB", (1, 1), P3_COLOUR),
        ImageCms.ImageCmsProfile(io.BytesIO(profile)),
        ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")),
        outputMode="RGB",
    )
    assert expected is not None
    wanted = expected.getpixel((0, 0))
    assert isinstance(wanted, tuple)
    assert not _close(wanted, P3_COLOUR, 8)  # the conversion is visible, so the test can fail
    thumb = ins.open_image(make_thumbnail(source, size=64).data)
    assert "icc_profile" not in thumb.info
    assert _close(_pixel(thumb, 0.5, 0.5), wanted, 6)


def test_gif_becomes_its_first_frame() -> None:
    frames = [Image.new("RGB", (300, 200), RED), Image.new("RGB", (300, 200), BLUE)]
    source = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    thumb = make_thumbnail(source, size=150)
    image = ins.open_image(thumb.data)
    assert (thumb.source_format, image.size) == ("GIF", (150, 100))
    assert _close(_pixel(image, 0.5, 0.5), RED, 30)


def test_a_transparent_webp_and_avif_are_flattened_on_white() -> None:
    image = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    image.paste((0, 160, 0, 255), (50, 25, 150, 75))
    for fmt in ("WEBP", "AVIF"):
        thumb = ins.open_image(make_thumbnail(_encode(image, fmt, lossless=True), size=100).data)
        assert thumb.mode == "RGB"
        assert min(_pixel(thumb, 0.02, 0.02)) > 240, fmt
        assert _close(_pixel(thumb, 0.5, 0.5), (0, 160, 0), 30), fmt


def test_a_heic_embedded_thumbnail_is_decoded_instead_of_the_image() -> None:
    # A budget too small for the full 1200x800 decode (even as planes) but enough for the stored 320 px
    # thumbnail: only the reduced decode can succeed.
    budget = int(1200 * 800 * HEIF_PLANES_BYTES_PER_PIXEL / 4)
    with_thumbnail = _encode(_halves(1200, 800), "HEIF", thumbnails=[320])
    thumb = make_thumbnail(with_thumbnail, size=256, budget=budget)
    assert (thumb.source_width, thumb.source_height) == (1200, 800)
    assert max(thumb.width, thumb.height) == 256
    image = ins.open_image(thumb.data)
    assert _close(_pixel(image, 0.1, 0.5), RED, 30)
    assert _close(_pixel(image, 0.9, 0.5), BLUE, 30)
    without = _encode(_halves(1200, 800), "HEIF")
    with pytest.raises(ImageRejected, match=r"^HEIC/HEIF image of 1200x800 needs ~4 MiB to decode"):
        make_thumbnail(without, size=256, budget=budget)


def test_webp_decodes_at_reduced_scale_within_a_small_budget() -> None:
    source = _encode(_halves(4000, 3000), "WEBP", quality=60, method=0)
    # A full decode at Pillow's ~16 bytes per pixel would need ~180 MiB; libwebp's scaled one needs ~1 MiB.
    thumb = make_thumbnail(source, size=256, budget=4 * 1024 * 1024)
    assert (thumb.width, thumb.height) == (256, 192)
    image = ins.open_image(thumb.data)
    assert _close(_pixel(image, 0.1, 0.5), RED, 30)
    assert _close(_pixel(image, 0.9, 0.5), BLUE, 30)


_PEAK = """
import resource, sys
from picops.core.ingest import make_thumbnail
data = open(sys.argv[1], "rb").read()
import picops.core.ingest.decode as d
d.webp.available()
d._register_heif()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
thumb = make_thumbnail(data, size=256)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) / 1024, thumb.width, thumb.height)
"""


@pytest.mark.slow
def test_a_12_mp_webp_thumbnail_stays_far_below_a_full_decode(tmp_path: Any) -> None:
    # ru_maxrss in a fresh process sees native allocations (libwebp's buffers) that tracemalloc misses.
    path = tmp_path / "photo.webp"
    noise = Image.effect_noise((4000, 3000), 40)
    path.write_bytes(_encode(Image.merge("RGB", (noise, noise, noise)), "WEBP", quality=80, method=0))
    run = subprocess.run(
        [sys.executable, "-c", _PEAK, str(path)], capture_output=True, text=True, check=True, timeout=120
    )
    peak_mib, width, height = run.stdout.split()
    assert (int(width), int(height)) == (256, 192)
    # Pillow's own WebP decode of this photo peaks ~190 MiB above baseline.
    assert float(peak_mib) < 48, run.stdout


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"II*\x00" + bytes(100), "^TIFF images are not supported"),
        (b"BM" + bytes(100), "^BMP images are not supported"),
        (b"plain text, not a picture", "^content is not an image picops reads"),
    ],
)
def test_other_content_is_rejected_naming_what_it_is(data: bytes, reason: str) -> None:
    with pytest.raises(ImageRejected, match=reason):
        make_thumbnail(data)


@pytest.mark.parametrize(
    ("fmt", "label"),
    [
        ("JPEG", "JPEG"),
        ("PNG", "PNG"),
        ("WEBP", "WebP"),
        ("GIF", "GIF"),
        ("HEIF", "HEIC/HEIF"),
        ("AVIF", "AVIF"),
    ],
)
def test_a_truncated_file_is_a_corrupt_image_of_its_format(fmt: str, label: str) -> None:
    noise = Image.effect_noise((400, 300), 60).convert("RGB")
    whole = _encode(noise, fmt)
    with pytest.raises(ImageRejected, match=f"^corrupt {label} image"):
        make_thumbnail(whole[: len(whole) // 2], size=64)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "HEIF", "AVIF"])
def test_the_pixel_cap_holds_for_every_format_before_decoding(fmt: str) -> None:
    source = _encode(Image.new("RGB", (200, 100), RED), fmt)
    with pytest.raises(
        ImageRejected, match=r"too many pixels: 200x100 = 20,000 > \[ingest\] max_pixels 19,999"
    ):
        make_thumbnail(source, max_pixels=19_999)
    assert make_thumbnail(source, size=50, max_pixels=20_000).width == 50


def test_the_decode_budget_is_half_the_function_memory_and_names_the_format(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raising=False)
    assert memory_budget() is None
    bomb = ins.png_header_only(6000, 4000)  # the header alone decides: nothing is decoded
    with pytest.raises(ImageRejected, match=r"^corrupt PNG image"):  # no budget: the decode itself fails
        make_thumbnail(bomb)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    assert memory_budget() == 64 * 1024 * 1024
    with pytest.raises(
        ImageRejected, match=r"^PNG image of 6000x4000 needs ~114 MiB to decode, over .* 64 MiB"
    ):
        make_thumbnail(bomb)


def test_sniff_names_supported_and_unsupported_formats() -> None:
    png = _encode(Image.new("RGB", (4, 4)), "PNG")
    heic = _encode(Image.new("RGB", (4, 4)), "HEIF")
    avif = _encode(Image.new("RGB", (4, 4)), "AVIF")
    assert [sniff(d[:64]) for d in (png, heic, avif)] == ["PNG", "HEIF", "AVIF"]
    assert sniff(b"\x00\x00\x00\x0cjP  \r\n\x87\n") == "JPEG 2000"


def test_handler_turns_heic_and_avif_uploads_into_thumbnails_and_a_tiff_into_a_named_failure(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    uploads = {
        "incoming/phone.heic": _encode(_halves(640, 480), "HEIF", exif=_exif(6)),
        "incoming/web.avif": _encode(_halves(640, 480), "AVIF"),
        "incoming/scan.jpg": b"II*\x00" + bytes(200),
    }
    objects = [ins.put(aws, stack, key, body) for key, body in uploads.items()]
    assert ingest.handler(ins.event_for(objects, stack), ins.FakeContext()) == {"batchItemFailures": []}
    heic, avif, tiff = (ins.job_items(aws, stack, key)[0] for key in uploads)
    assert (heic["status"], avif["status"], tiff["status"]) == ("PROCESSED", "PROCESSED", "FAILED")
    assert tiff["reason"].startswith("TIFF images are not supported")
    s3 = aws.client("s3")
    for key, size in (("incoming/phone.heic", (192, 256)), ("incoming/web.avif", (256, 192))):
        thumb = s3.get_object(Bucket=stack.processed, Key=f"thumbnails/{key}.jpg")
        image = ins.open_image(thumb["Body"].read())
        assert (image.format, image.size) == ("JPEG", size), key
    notes = {n["body"]["key"]: n["body"] for n in ins.notifications(aws, stack)}
    assert notes["incoming/scan.jpg"]["status"] == "failed"
    assert notes["incoming/phone.heic"]["outputs"] == "thumbnails/incoming/phone.heic.jpg"


@pytest.fixture
def ingest(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from picops.aws import lambda_factory
    from picops.handlers import _env
    from picops.handlers import ingest as module

    monkeypatch.setenv("AWS_REGION", ins.REGION)
    lambda_factory.cache_clear()
    _env.reset()
    yield module
    lambda_factory.cache_clear()
    _env.reset()


def test_an_animated_webp_becomes_its_first_frame_and_a_lossless_one_decodes_scaled() -> None:
    frames = [Image.new("RGB", (300, 200), RED), Image.new("RGB", (300, 200), BLUE)]
    animated = _encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)
    image = ins.open_image(make_thumbnail(animated, size=150).data)
    assert image.size == (150, 100)
    assert _close(_pixel(image, 0.5, 0.5), RED, 30)
    lossless = _encode(_halves(1200, 800), "WEBP", lossless=True)
    # libwebp keeps a lossless image's 32-bit pixels whatever the output size: ~4 MiB here, not Pillow's ~16.
    thumb = make_thumbnail(lossless, size=64, budget=6 * 1024 * 1024)
    assert (thumb.width, thumb.height) == (64, 43)


def test_without_libwebp_a_webp_decodes_through_pillow_within_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from picops.core.ingest import webp

    monkeypatch.setattr(webp, "available", lambda: False)
    source = _encode(_halves(1200, 800), "WEBP", quality=60, method=0)
    assert make_thumbnail(source, size=64).width == 64
    with pytest.raises(ImageRejected, match=r"^WebP image of 1200x800 needs ~15 MiB to decode"):
        make_thumbnail(source, size=64, budget=4 * 1024 * 1024)
