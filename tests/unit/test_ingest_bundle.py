"""The Lambda bundle carries every native library ingest's decoders need, within Lambda's size limits: each
format decodes from the unzipped bundle alone."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from picops.provision.bundle import LAMBDA_UNZIPPED_LIMIT, Bundle, build_bundle
from tests.deploy_support import bundle_settings
from tests.unit.test_bundle import RUNTIME_PROVIDED_TOPS

FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF", "heic": "HEIF", "avif": "AVIF"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    root = tmp_path_factory.mktemp("ingest-bundle")
    return build_bundle(bundle_settings(root / "cache"), out_dir=root / "out")


def test_the_decoders_native_libraries_are_in_the_bundle_within_the_limits(built: Bundle) -> None:
    with zipfile.ZipFile(built.path) as zf:
        names = zf.namelist()
    libs = [n.rsplit("/", 1)[-1] for n in names if "/" in n and n.split("/")[0].endswith(".libs")]
    for wanted in ("libjpeg", "libpng16", "libwebp-", "libavif", "liblcms2", "libheif", "libde265"):
        assert [lib for lib in libs if lib.startswith(wanted)], wanted
    assert "pillow_heif/__init__.py" in names
    assert [n for n in names if n.startswith("_pillow_heif") and n.endswith(".so")]
    assert [n for n in names if n.startswith("isal/isal_zlib") and n.endswith(".so")]  # PNG's inflate
    assert built.unzipped_bytes < LAMBDA_UNZIPPED_LIMIT


_DECODE = """
import json, sys
sys.path[:] = [p for p in sys.path if 'packages' not in p and p not in ('', '.')]
sys.path[:0] = sys.argv[1].split(":")
import PIL
from picops.core.ingest import avif, heif, make_thumbnail, png, webp
results = {"pil": PIL.__file__, "libwebp": webp.available(), "isal": png.available()}
results["libavif"], results["libheif"] = avif.available(), heif.available()
for path in sys.argv[2:]:
    thumb = make_thumbnail(open(path, "rb").read(), size=64)
    results[path.rsplit(".", 1)[1]] = [thumb.source_format, thumb.width, thumb.height]
print(json.dumps(results))
"""


@pytest.mark.slow
def test_every_format_decodes_from_the_unzipped_bundle_alone(built: Bundle, tmp_path: Path) -> None:
    task = tmp_path / "task"
    with zipfile.ZipFile(built.path) as zf:
        zf.extractall(task)
    runtime = tmp_path / "runtime"  # stands in for Lambda's /var/runtime: boto3 and its dependencies only
    runtime.mkdir()
    for top in RUNTIME_PROVIDED_TOPS:
        spec = importlib.util.find_spec(top)
        assert spec is not None
        assert spec.origin is not None
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (runtime / source.name).symlink_to(source)
    image = Image.new("RGB", (640, 480), (200, 40, 40))
    paths = []
    for ext, fmt in FORMATS.items():
        out = io.BytesIO()
        if fmt == "HEIF":
            import pillow_heif

            pillow_heif.from_pillow(image).save(out, quality=70)
        else:
            image.save(out, fmt)
        paths.append(tmp_path / f"photo.{ext}")
        paths[-1].write_bytes(out.getvalue())
    env = {"PATH": os.environ["PATH"], "PYTHONNOUSERSITE": "1"}
    proc = subprocess.run(
        [sys.executable, "-S", "-c", _DECODE, f"{task}:{runtime}", *map(str, paths)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert results.pop("pil").startswith(str(task))
    assert results.pop("libwebp") is True  # the scaled WebP decode found Pillow's bundled libwebp
    assert results.pop("isal") is True  # PNG's inflate came with the bundle
    assert results.pop("libavif") is True  # the strip-wise AVIF decode found Pillow's bundled libavif
    assert results.pop("libheif") is True  # and the HEIC planes decode pillow-heif's libheif
    assert results == {ext: [fmt, 64, 48] for ext, fmt in FORMATS.items()}
