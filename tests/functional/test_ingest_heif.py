"""A HEIC without an embedded thumbnail through libheif's planes, reduced before conversion: the same picture
as pillow-heif's RGB decode, a 12 MP photo within 64 MB above baseline, and the images Pillow's YCbCr
conversion would get wrong (alpha) left to pillow-heif (docs/ingest.md, "Formats and memory")."""

from __future__ import annotations

import ctypes
import io
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pillow_heif
import pytest
from bench.heic_fixtures import grid_heic
from PIL import Image, ImageChops, ImageFilter, ImageStat

from picops.core.ingest import decode, heif, heif_frame, heif_tiles, libde265, make_thumbnail
from picops.core.ingest.decode import ImageRejected
from tests import ingest_support as ins

pytestmark = pytest.mark.skipif(not heif.available(), reason="no libheif next to pillow-heif")


def _photo(size: tuple[int, int]) -> Image.Image:
    gradient = Image.linear_gradient("L").resize(size)
    # Blurred a little: a camera's noise is not independent from one pixel to the next, and single-pixel
    # colour noise is exactly what 4:2:0 chroma cannot carry, whoever upsamples it.
    noise = Image.effect_noise(size, 30).convert("L").filter(ImageFilter.GaussianBlur(1))
    return Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.ROTATE_180)))


def _heic(image: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    pillow_heif.from_pillow(image).save(out, quality=90, **options)
    return out.getvalue()


def _pillow_heif(data: bytes) -> Image.Image:
    image = pillow_heif.open_heif(data).to_pillow()
    return image.convert("RGB")


@pytest.mark.parametrize(
    ("size", "chroma", "factor"),
    [((301, 203), 420, 1), ((640, 479), 420, 3), ((800, 600), 420, 8), ((500, 300), 444, 2)],
)
def test_the_reduced_planes_make_pillow_heifs_picture(
    size: tuple[int, int], chroma: int, factor: int
) -> None:
    data = _heic(_photo(size), chroma=chroma)
    whole = _pillow_heif(data)
    expected = whole.reduce(factor) if factor > 1 else whole
    planes = heif.decode_reduced(data, factor)
    assert planes is not None
    assert planes.size == expected.size
    # libheif's and Pillow's BT.601 conversions round differently, and the chroma is averaged, not upsampled.
    assert max(ImageStat.Stat(ImageChops.difference(planes, expected)).mean) < 2.0


def _deep_heic(image: Image.Image, **options: object) -> bytes:
    """`image` (RGB or RGBA) widened to 16 bits a sample, which libheif's encoder stores in 10 or 12."""
    raw = b"".join(bytes((v, v)) for v in image.tobytes())  # v * 257: the same colour at 16 bits
    out = io.BytesIO()
    pillow_heif.from_bytes(f"{image.mode};16", image.size, raw).save(out, quality=90, **options)
    return out.getvalue()


def _on_white(image: Image.Image) -> Image.Image:
    if image.mode != "RGBA":
        return image.convert("RGB")
    white = Image.new("RGB", image.size, (255, 255, 255))
    white.paste(image.convert("RGB"), mask=image.getchannel("A"))
    return white


def _with_alpha(size: tuple[int, int]) -> Image.Image:
    image = _photo(size)
    image.putalpha(Image.linear_gradient("L").rotate(90).resize(size))
    return image


@pytest.mark.parametrize(
    ("kind", "factor"),
    [("10-bit", 1), ("10-bit", 4), ("12-bit", 3), ("alpha", 2), ("10-bit alpha", 3)],
)
def test_deep_and_alpha_planes_make_pillow_heifs_picture(kind: str, factor: int) -> None:
    source = _with_alpha((640, 480)) if "alpha" in kind else _photo((640, 480))
    deep = "bit" in kind
    data = _deep_heic(source, save_to_12bit=kind.startswith("12")) if deep else _heic(source)
    whole = _on_white(pillow_heif.open_heif(data).to_pillow())
    expected = whole.reduce(factor) if factor > 1 else whole
    planes = heif.decode_reduced(data, factor)
    assert planes is not None
    assert planes.mode == ("RGBA" if "alpha" in kind else "RGB")
    # Alpha is reduced beside the colour, not premultiplied into it: edges of partial transparency differ.
    assert max(ImageStat.Stat(ImageChops.difference(_on_white(planes), expected)).mean) < 2.0


def _banded(size: tuple[int, int]) -> Image.Image:
    """A photo with a red band along its top edge and a blue one down its left, to tell orientations apart."""
    image = _photo(size)
    image.paste((210, 30, 30), (0, 0, size[0], size[1] // 8))
    image.paste((30, 30, 210), (0, size[1] // 8, size[0] // 10, size[1]))
    return image


def _mean_difference(found: Image.Image, expected: Image.Image) -> float:
    assert found.size == expected.size
    return max(ImageStat.Stat(ImageChops.difference(_on_white(found), _on_white(expected))).mean)


@pytest.mark.parametrize(
    ("kind", "factor"),
    [("8-bit", 1), ("8-bit", 3), ("10-bit", 5), ("alpha", 3), ("10-bit alpha", 8), ("alpha per tile", 3)],
)
def test_a_grid_decoded_tile_by_tile_makes_pillow_heifs_picture(kind: str, factor: int) -> None:
    """1100x700 in 512 px tiles: the right and bottom tiles are cropped by the grid, and no factor here
    divides the tile size, so reduction blocks straddle tiles and bands. Alpha as Apple stores it (an alpha
    grid) and as libheif's grid encoder does (an alpha plane on each tile)."""
    size = (1100, 700)
    image = _banded(size)
    if "alpha" in kind:
        image.putalpha(Image.linear_gradient("L").rotate(90).resize(size))
    per_tile = kind == "alpha per tile"
    data = grid_heic(image, bits=10 if "10" in kind else 8, quality=90, alpha_per_tile=per_tile)
    assert heif_tiles.grid_tile(data) == (512, 512)
    whole = _on_white(pillow_heif.open_heif(data).to_pillow())
    expected = whole.reduce(factor) if factor > 1 else whole
    found = heif_tiles.decode_reduced(data, factor)
    assert found is not None
    assert found.mode == ("RGBA" if "alpha" in kind else "RGB")
    # As for a single frame: the two conversions round differently and the chroma is averaged, not upsampled.
    assert _mean_difference(found, expected) < 2.0


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_a_grids_rotation_and_mirroring_are_applied_as_libheif_applies_them(orientation: int) -> None:
    """irot/imir (what EXIF orientation 2-8 becomes in a HEIC) on a grid with cropped edge tiles; 1000x744
    is a multiple of the factor, so the reduced blocks are the same whichever corner they start from."""
    data = grid_heic(_banded((1000, 744)), orientation=orientation, quality=90, tile=256)
    whole = pillow_heif.open_heif(data).to_pillow().convert("RGB")
    found = heif_tiles.decode_reduced(data, 4)
    assert found is not None
    assert found.size == (250, 186)  # upright again, whichever way the pixels are stored
    assert _mean_difference(found, whole.reduce(4)) < 2.0


def test_a_grids_clean_aperture_is_cropped_as_libheif_crops_it() -> None:
    """clap: 1000x744 of a 1024x768 grid, off centre, its edges on multiples of the factor (off them, they
    are rounded to the nearest reduced pixel)."""
    data = grid_heic(_banded((1024, 768)), quality=90, tile=256, clap=(1000, 744, -4, 4))
    whole = pillow_heif.open_heif(data).to_pillow().convert("RGB")
    assert whole.size == (1000, 744)
    found = heif_tiles.decode_reduced(data, 4)
    assert found is not None
    assert _mean_difference(found, whole.reduce(4)) < 2.0


def test_a_clean_aperture_larger_than_the_image_is_left_to_libheif() -> None:
    """libheif applies clap before irot and clamps one that does not fit (here 1000 px wide over a 768 px
    wide stored image): the tile path declines rather than guess, and the whole decode is libheif's."""
    data = grid_heic(_banded((1024, 768)), orientation=6, quality=90, tile=256, clap=(1000, 744, -4, 4))
    assert heif_tiles.decode_reduced(data, 4) is None
    assert make_thumbnail(data, size=64).width > 0


def _no_whole_decode(data: bytes, factor: int) -> None:
    raise AssertionError("the whole frame was decoded")


@pytest.mark.parametrize(("orientation", "size"), [(1, (256, 170)), (6, (256, 170)), (8, (256, 170))])
def test_a_grid_heics_thumbnail_is_upright_and_never_decodes_the_whole_frame(
    monkeypatch: pytest.MonkeyPatch, orientation: int, size: tuple[int, int]
) -> None:
    monkeypatch.setattr(heif, "decode_reduced", _no_whole_decode)
    data = grid_heic(_banded((1536, 1020)), orientation=orientation, quality=90)
    thumb = make_thumbnail(data, size=256)
    image = ins.open_image(thumb.data).convert("RGB")
    assert image.size == size
    top, left = image.getpixel((128, 5)), image.getpixel((5, 100))
    assert isinstance(top, tuple)
    assert isinstance(left, tuple)
    assert (top[0] > 150, top[2] < 90) == (True, True), top  # the red band along the top
    assert (left[2] > 150, left[0] < 90) == (True, True), left  # the blue one down the left


@pytest.mark.parametrize(
    ("kind", "factor"),
    [
        ("8-bit", 1),
        ("8-bit", 3),
        ("4:4:4", 2),
        ("10-bit", 4),
        ("12-bit", 3),
        ("alpha", 2),
        ("10-bit alpha", 3),
    ],
)
def test_a_single_frame_through_libde265_alone_makes_pillow_heifs_picture(kind: str, factor: int) -> None:
    """Beyond 8 bits the frame is decoded without HEVC's SAO filter (its second frame is what took a 12 MP
    photo past 64 MB): within the same tolerance as the 8-bit frames, which keep it."""
    source = _with_alpha((640, 480)) if "alpha" in kind else _banded((640, 480))
    if "bit" in kind and not kind.startswith("8"):
        data = _deep_heic(source, save_to_12bit=kind.startswith("12"))
    else:
        data = _heic(source, chroma=444) if kind == "4:4:4" else _heic(source)
    whole = _on_white(pillow_heif.open_heif(data).to_pillow())
    expected = whole.reduce(factor) if factor > 1 else whole
    found = heif_frame.decode_reduced(data, factor)
    assert found is not None
    assert found.mode == ("RGBA" if "alpha" in kind else "RGB")
    assert _mean_difference(found, expected) < 2.0


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_a_single_frames_rotation_is_applied_and_the_whole_frame_never_reaches_libheif(
    monkeypatch: pytest.MonkeyPatch, orientation: int
) -> None:
    """pillow-heif writes an EXIF orientation as irot/imir over pixels stored turned, as phones do."""
    monkeypatch.setattr(heif, "decode_reduced", _no_whole_decode)
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = _banded((1536, 1020)).transpose(
        {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[
            orientation
        ]
    )
    data = _heic(stored, exif=exif.tobytes())
    thumb = ins.open_image(make_thumbnail(data, size=256).data).convert("RGB")
    assert thumb.size == (256, 170)
    top, left = thumb.getpixel((128, 5)), thumb.getpixel((5, 100))
    assert isinstance(top, tuple)
    assert isinstance(left, tuple)
    assert (top[0] > 150, top[2] < 90) == (True, True), top
    assert (left[2] > 150, left[0] < 90) == (True, True), left


def test_a_single_frame_larger_than_its_ispe_is_refused_before_libde265_allocates_it() -> None:
    """The budget check trusts the header's size, so libde265 is held to it (as libheif holds it): a stream
    announcing 1280x960 under an ispe of 64x48 is refused, not decoded."""
    data = bytearray(_heic(Image.new("RGB", (1280, 960), (20, 90, 200))))
    ispe = data.index(b"ispe")
    assert struct.unpack_from(">II", data, ispe + 8) == (1280, 960)
    struct.pack_into(">II", data, ispe + 8, 64, 48)
    with pytest.raises(libde265.De265Error, match="security limit"):
        heif_frame.decode_reduced(bytes(data), 1)
    with pytest.raises(ImageRejected, match=r"^corrupt HEIC/HEIF image: decoding: image size exceeds"):
        make_thumbnail(bytes(data), size=32)


class _Encoder:
    """libheif's own encoder fed YCbCr planes and an nclx profile: pillow-heif's encoder converts from RGB
    with BT.601 full range whatever nclx it is asked to write, and its decoder follows the stream's own."""

    def __init__(self) -> None:
        lib = heif._library()
        assert lib is not None
        p, e = ctypes.c_void_p, heif._Error
        signatures: dict[str, tuple[list[Any], Any]] = {
            "heif_image_create": ([ctypes.c_int] * 4 + [ctypes.POINTER(p)], e),
            "heif_image_add_plane": ([p] + [ctypes.c_int] * 4, e),
            "heif_image_get_plane": ([p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)], p),
            "heif_nclx_color_profile_alloc": ([], ctypes.POINTER(heif._Nclx)),
            "heif_image_set_nclx_color_profile": ([p, ctypes.POINTER(heif._Nclx)], e),
            "heif_context_get_encoder_for_format": ([p, ctypes.c_int, ctypes.POINTER(p)], e),
            "heif_encoder_set_lossy_quality": ([p, ctypes.c_int], e),
            "heif_context_encode_image": ([p] * 5, e),
            "heif_context_write_to_file": ([p, ctypes.c_char_p], e),
            "heif_encoder_release": ([p], None),
        }
        for name, (argtypes, restype) in signatures.items():
            getattr(lib, name).argtypes = argtypes
            getattr(lib, name).restype = restype
        self.lib = lib

    def encode(self, planes: tuple[Image.Image, ...], matrix: int, full_range: bool, path: Path) -> bytes:
        lib, image = self.lib, ctypes.c_void_p()
        width, height = planes[0].size
        chroma = 3 if planes[1].size == planes[0].size else 1  # 4:4:4 or 4:2:0
        heif._check(lib.heif_image_create(width, height, 0, chroma, ctypes.byref(image)), "create")
        for channel, plane in enumerate(planes):
            heif._check(lib.heif_image_add_plane(image, channel, *plane.size, 8), "plane")
            stride = ctypes.c_int()
            address = lib.heif_image_get_plane(image, channel, ctypes.byref(stride))
            raw = plane.tobytes()
            for row in range(plane.height):
                ctypes.memmove(address + row * stride.value, raw[row * plane.width :], plane.width)
        nclx = lib.heif_nclx_color_profile_alloc()
        nclx.contents.color_primaries, nclx.contents.transfer_characteristics = 1, 13
        nclx.contents.matrix_coefficients, nclx.contents.full_range_flag = matrix, int(full_range)
        heif._check(lib.heif_image_set_nclx_color_profile(image, nclx), "nclx")
        context, encoder = lib.heif_context_alloc(), ctypes.c_void_p()
        heif._check(lib.heif_context_get_encoder_for_format(context, 1, ctypes.byref(encoder)), "HEVC")
        lib.heif_encoder_set_lossy_quality(encoder, 95)
        heif._check(lib.heif_context_encode_image(context, image, encoder, None, None), "encode")
        heif._check(lib.heif_context_write_to_file(context, str(path).encode()), "write")
        lib.heif_encoder_release(encoder)
        return path.read_bytes()


def _ycbcr(size: tuple[int, int], full_range: bool, chroma: int) -> tuple[Image.Image, ...]:
    """Smooth planes spanning the range's codes; 4:2:0 chroma at half the size."""
    low, y_high, c_high = (0, 255, 255) if full_range else (16, 235, 240)
    y = Image.linear_gradient("L").resize(size).point(lambda v: low + v * (y_high - low) // 255)
    c_size = size if chroma == 444 else (-(-size[0] // 2), -(-size[1] // 2))
    cb = Image.linear_gradient("L").rotate(90).resize(c_size).point(lambda v: low + v * (c_high - low) // 255)
    cr = cb.transpose(Image.Transpose.ROTATE_180)
    return y, cb, cr


@pytest.mark.parametrize(
    ("matrix", "full_range", "chroma", "factor"),
    [(1, False, 444, 1), (1, False, 420, 4), (9, True, 444, 2), (9, False, 420, 1), (1, True, 420, 3)],
)
def test_bt709_and_bt2020_planes_in_either_range_make_pillow_heifs_picture(
    tmp_path: Path, matrix: int, full_range: bool, chroma: int, factor: int
) -> None:
    planes = _ycbcr((320, 240), full_range, chroma)
    data = _Encoder().encode(planes, matrix, full_range, tmp_path / "planes.heic")
    whole = _pillow_heif(data)
    expected = whole.reduce(factor) if factor > 1 else whole
    found = heif.decode_reduced(data, factor)
    assert found is not None
    assert max(ImageStat.Stat(ImageChops.difference(found, expected)).mean) < 2.0
    # Pillow's BT.601 full-range conversion is much further off: the test tells the matrices apart.
    ours = max(ImageStat.Stat(ImageChops.difference(heif.decode_reduced(data, 1) or whole, whole)).mean)
    jfif = Image.merge("YCbCr", [plane.resize((320, 240)) for plane in planes]).convert("RGB")
    assert max(ImageStat.Stat(ImageChops.difference(jfif, whole)).mean) > 2 * ours


def _layout(matrix: int, full_range: bool, bits: int = 8) -> heif._Layout:
    kr, kb = heif._MATRICES[matrix]
    return heif._Layout(kr, kb, full_range, bits, 0)


def _pixel(layout: heif._Layout, ycbcr: tuple[float, float, float]) -> object:
    y, cb, cr = (Image.new("F", (1, 1), v) for v in ycbcr)
    return heif._to_rgb(y, cb, cr, layout).getpixel((0, 0))


@pytest.mark.parametrize(
    ("matrix", "full_range", "bits", "ycbcr", "rgb"),
    [
        # Limited range: 16..235 is black..white whatever the matrix.
        (1, False, 8, (16, 128, 128), (0, 0, 0)),
        (1, False, 8, (235, 128, 128), (255, 255, 255)),
        (9, False, 10, (940, 512, 512), (255, 255, 255)),
        # BT.709 limited-range pure red, green and blue (ITU-R BT.709 table of 8-bit code values).
        (1, False, 8, (63, 102, 240), (255, 0, 0)),
        (1, False, 8, (173, 42, 26), (0, 255, 0)),
        (1, False, 8, (32, 240, 118), (0, 0, 255)),
        # BT.2020 full-range red: Y = 0.2627, Cr = 0.5.
        (9, True, 8, (0.2627 * 255, 128 - 0.2627 / 1.8814 * 255, 255), (255, 0, 0)),
    ],
)
def test_other_matrices_and_ranges_convert_with_their_coefficients(
    matrix: int, full_range: bool, bits: int, ycbcr: tuple[float, float, float], rgb: tuple[int, int, int]
) -> None:
    found = _pixel(_layout(matrix, full_range, bits), ycbcr)
    assert isinstance(found, tuple)
    assert all(abs(f - e) <= 2 for f, e in zip(found, rgb, strict=True)), found


def test_a_heic_with_alpha_is_flattened_on_white() -> None:
    image = Image.new("RGBA", (400, 200), (0, 0, 0, 0))
    image.paste((0, 160, 0, 255), (100, 50, 300, 150))
    data = _heic(image)
    thumb = ins.open_image(make_thumbnail(data, size=100).data)
    corner = thumb.convert("RGB").getpixel((1, 1))
    assert isinstance(corner, tuple)
    assert min(corner) > 240
    middle = thumb.convert("RGB").getpixel((50, 25))
    assert isinstance(middle, tuple)
    assert middle[1] > 140
    assert max(middle[0], middle[2]) < 20


def _no_decode(data: bytes, factor: int) -> None:
    raise AssertionError("decoded although over the budget")


@pytest.mark.parametrize(
    ("kind", "frames"),
    [("8-bit", 3.0), ("4:4:4", 6.0), ("10-bit", 3.0), ("8-bit with alpha", 3.0)],
)
def test_a_single_frame_heic_is_held_to_the_decode_budget_at_its_frames_bytes_per_pixel(
    monkeypatch: pytest.MonkeyPatch, kind: str, frames: float
) -> None:
    """libde265 holds the frame (and its SAO copy at 8 bits) plus its per-block data: the budget check,
    from the boxes alone, knows what each kind costs and refuses before anything decodes."""
    source = _with_alpha((320, 240)) if "alpha" in kind else _photo((320, 240))
    if kind == "10-bit":
        data = _deep_heic(source)
    else:
        data = _heic(source, chroma=444) if kind == "4:4:4" else _heic(source)
    assert heif_frame.frames_per_pixel(data) == frames
    need = int(320 * 240 * (frames + decode.HEIF_DECODER_BYTES_PER_PIXEL))
    for module in (heif, heif_frame):
        monkeypatch.setattr(module, "decode_reduced", _no_decode)
    with pytest.raises(ImageRejected, match=r"^HEIC/HEIF image of 320x240 needs ~\d+ MiB to decode"):
        make_thumbnail(data, size=64, budget=need - 1)
    monkeypatch.undo()
    assert make_thumbnail(data, size=64, budget=need).width == 64


def test_a_grid_heic_is_held_to_the_budget_of_a_band_of_tiles() -> None:
    """A grid needs a band of tiles, not the frame: a budget far below the frame's still decodes it."""
    data = grid_heic(_photo((2600, 1600)), bits=10, tile=256)
    frame = 2600 * 1600 * ((heif_frame.frames_per_pixel(_deep_heic(_photo((64, 48)))) or 0) + 2)
    factor = min(2600 // (2 * 128), 1600 // (2 * 79))  # to at least twice the 128x79 output
    band = 2600 * (256 + 2 * factor) + 256 * 256
    need = int(band * decode.HEIF_TILES_BYTES_PER_BAND_PIXEL * 2)
    assert need < frame / 3
    assert make_thumbnail(data, size=128, budget=need).width == 128
    with pytest.raises(ImageRejected, match=r"^HEIC/HEIF image of 2600x1600 needs ~\d+ MiB to decode"):
        make_thumbnail(data, size=128, budget=need - 1)


_PEAK = """
import resource, sys
from picops.core.ingest import decode, heif, make_thumbnail
from picops.core.ingest.decode import ImageRejected
data = open(sys.argv[1], "rb").read()
make_thumbnail(open(sys.argv[2], "rb").read(), size=16)  # load the codec's code on a tiny image first
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
thumb = make_thumbnail(data, size=256)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) / 1024, thumb.width, thumb.height)
"""


def _12_mp(kind: str, tmp_path: Path) -> bytes:
    if kind == "BT.709 limited":
        planes = _ycbcr((4000, 3000), full_range=False, chroma=420)
        return _Encoder().encode(planes, 1, False, tmp_path / "bt709.heic")
    if kind == "alpha":
        return _heic(_with_alpha((4000, 3000)))
    if kind == "10-bit":
        return _deep_heic(_photo((4000, 3000)))
    if kind.startswith("grid"):
        # As phones write: 512 px tiles, here with an irot, 10 bits or an alpha grid (~5-14 MB measured). The
        # 48 MP one (~30 MB of HEVC: libheif keeps each tile's compressed data until its context is freed)
        # took ~56 MB before the contexts were renewed for every row of tiles, ~29 MB since.
        size = (8000, 6000) if "48 MP" in kind else (4000, 3000)
        image = _with_alpha(size) if "alpha" in kind else _photo(size)
        return grid_heic(image, bits=10 if "10-bit" in kind else 8, orientation=6 if "8-bit" in kind else 1)
    return _heic(_photo((4000, 3000)))


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind",
    [
        "8-bit",
        "10-bit",
        "alpha",
        "BT.709 limited",
        "grid 8-bit",
        "grid 10-bit",
        "grid 10-bit alpha",
        "grid 48 MP 10-bit alpha",
    ],
)
def test_a_12_mp_heic_without_a_thumbnail_stays_within_64_mb(tmp_path: Path, kind: str) -> None:
    # pillow-heif's RGB decode of these photos peaks ~90 MiB (8-bit) to ~125 MiB (alpha) above baseline.
    big, tiny = tmp_path / "photo.heic", tmp_path / "tiny.heic"
    big.write_bytes(_12_mp(kind, tmp_path))
    tiny.write_bytes(_heic(_photo((64, 48))))
    # Within a function's decode budget: IngestFunction's default 1024 MB; the 48 MP grid in a 256 MB one
    # (a band of tiles, ~60 MiB budgeted, fits its 128 MiB where the frame would not).
    memory_mb = "256" if "48 MP" in kind else "1024"
    run = subprocess.run(
        [sys.executable, "-c", _PEAK, str(big), str(tiny)],
        capture_output=True,
        text=True,
        check=True,
        timeout=180,
        env={**os.environ, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": memory_mb},
    )
    peak_mib, width, height = run.stdout.split()
    assert (int(width), int(height)) == (256, 192)
    # A 48 MP grid holds a band twice as wide as a 12 MP one's, not four times the frame: held to 40 MB,
    # which the compressed data libheif kept (above) would exceed.
    assert float(peak_mib) < (40 if "48 MP" in kind else 64), run.stdout
