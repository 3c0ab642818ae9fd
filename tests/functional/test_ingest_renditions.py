"""Rendition sets: `[ingest] renditions` (sizes x formats) become one object each, listed in the job record
and the notification; unset, ingest writes exactly today's single 256 px JPEG at thumbnails/<key>.jpg."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from picops.config import Settings, load_settings, settings_from_env
from picops.core.ingest.renditions import Rendition, make_renditions
from picops.errors import ConfigError
from picops.stack import StackNames
from picops.stack.builders.context import function_environment
from tests import ingest_support as ins

SET = [
    {"name": "thumbnail", "max_size": 256, "format": "jpeg", "quality": 85},
    {"name": "large", "max_size": 1024, "format": "webp", "quality": 80},
    {"name": "tiny", "max_size": 128, "format": "avif", "quality": 60},
]


@pytest.fixture
def ingest(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from picops.aws import lambda_factory
    from picops.handlers import _env
    from picops.handlers import ingest as module

    monkeypatch.setenv("AWS_REGION", ins.REGION)
    lambda_factory.cache_clear()
    _env.reset()
    yield module
    lambda_factory.cache_clear()
    _env.reset()


def _with_renditions(renditions: list[dict[str, Any]]) -> Settings:
    return load_settings(overrides={"ingest": {"renditions": renditions}}, use_files=False)


def test_the_default_set_is_todays_single_jpeg_listed_in_the_job_and_the_notification(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    key = "incoming/photo.jpg"
    obj = ins.put(aws, stack, key, ins.jpeg(1200, 800, orientation=6))
    assert ingest.handler(ins.event_for([obj], stack), ins.FakeContext()) == {"batchItemFailures": []}
    listed = aws.client("s3").list_objects_v2(Bucket=stack.processed)["Contents"]
    assert [o["Key"] for o in listed] == [f"thumbnails/{key}.jpg"]
    (job,) = ins.job_items(aws, stack, key)
    assert job["outputs"] == f"thumbnails/{key}.jpg"
    assert job["renditions"] == [
        {
            "name": "thumbnail",
            "key": f"thumbnails/{key}.jpg",
            "format": "jpeg",
            "width": 171,
            "height": 256,
            "bytes": listed[0]["Size"],
        }
    ]
    (note,) = ins.notifications(aws, stack)
    assert note["body"]["outputs"] == f"thumbnails/{key}.jpg"
    assert note["body"]["renditions"] == job["renditions"]


def test_a_configured_set_writes_every_size_and_format_upright_sRGB_and_stripped(
    ingest: Any, aws: Any, stack: ins.IngestStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The set reaches the function the way a deployed one gets it: the environment provision renders.
    settings = _with_renditions(SET)
    names = StackNames(settings, aws.account_id(), aws.region)
    env = dict(function_environment(settings, names, "IngestFunction"))
    monkeypatch.setenv("PICOPS_INGEST__RENDITIONS", env["PICOPS_INGEST__RENDITIONS"])
    key = "incoming/trip/beach été.jpg"
    obj = ins.put(aws, stack, key, ins.jpeg(2000, 1500, orientation=6))
    assert ingest.handler(ins.event_for([obj], stack), ins.FakeContext()) == {"batchItemFailures": []}

    s3 = aws.client("s3")
    expected = {
        f"thumbnails/{key}.jpg": ("JPEG", "image/jpeg", (192, 256)),
        f"thumbnails/large/{key}.webp": ("WEBP", "image/webp", (768, 1024)),
        f"thumbnails/tiny/{key}.avif": ("AVIF", "image/avif", (96, 128)),
    }
    for target, (fmt, content_type, size) in expected.items():
        got = s3.get_object(Bucket=stack.processed, Key=target)
        assert got["ContentType"] == content_type
        assert got["Metadata"]["picops-source-version"] == obj["version"]
        image = ins.open_image(got["Body"].read())
        assert (image.format, image.size) == (fmt, size), target
        top = image.convert("RGB").getpixel((size[0] // 2, size[1] // 20))
        assert isinstance(top, tuple)
        assert top[0] > 150 > top[2], target  # the stored left (red) half is on top: upright
        assert not image.getexif(), target
        assert "icc_profile" not in image.info, target
    (job,) = ins.job_items(aws, stack, key)
    assert job["outputs"] == f"thumbnails/{key}.jpg"  # the first listed rendition
    assert [(r["name"], r["key"], r["format"], r["width"], r["height"]) for r in job["renditions"]] == [
        ("thumbnail", f"thumbnails/{key}.jpg", "jpeg", 192, 256),
        ("large", f"thumbnails/large/{key}.webp", "webp", 768, 1024),
        ("tiny", f"thumbnails/tiny/{key}.avif", "avif", 96, 128),
    ]
    assert all(r["bytes"] > 0 for r in job["renditions"])
    (note,) = ins.notifications(aws, stack)
    assert note["body"]["renditions"] == job["renditions"]


def test_renditions_never_upscale_and_come_from_one_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    from picops.core.ingest import renditions as module

    calls: list[int] = []
    real = module.prepare

    def counting(data: bytes, **kwargs: Any) -> Any:
        calls.append(kwargs["size"])
        return real(data, **kwargs)

    monkeypatch.setattr(module, "prepare", counting)
    out = make_renditions(
        ins.jpeg(300, 200),
        [Rendition("a", 1024, "webp", 80), Rendition("b", 100, "jpeg", 85)],
        max_pixels=1_000_000,
    )
    assert calls == [1024]  # decoded once, at the largest rendition's size
    assert [(o.width, o.height) for o in out.outputs] == [(300, 200), (100, 67)]
    assert Image.open(io.BytesIO(out.outputs[0].data)).format == "WEBP"


def test_the_environment_round_trips_the_set() -> None:
    settings = _with_renditions(SET)
    names = StackNames(settings, "123456789012", "us-east-1")
    env = dict(function_environment(settings, names, "IngestFunction"))
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        assert settings_from_env().ingest.renditions == settings.ingest.renditions
    # Unset (the default) renders nothing, so existing functions' environments do not change.
    default = Settings()
    assert "PICOPS_INGEST__RENDITIONS" not in dict(
        function_environment(default, StackNames(default, "123456789012", "us-east-1"), "IngestFunction")
    )


@pytest.mark.parametrize(
    ("renditions", "message"),
    [
        ([], "list at least one"),
        ([SET[0], SET[0]], "names must be unique"),
        ([{"name": "incoming", "max_size": 64}], "must not be named 'incoming'"),
        ([{"name": "x", "max_size": 64, "format": "gif"}], "renditions"),
        ([{"name": "Big Ones", "max_size": 64}], "renditions"),
    ],
)
def test_an_invalid_set_is_a_config_error(renditions: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _with_renditions(renditions)
