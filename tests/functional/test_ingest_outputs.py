"""What ingest produces: thumbnail pixels (size, orientation, colour, alpha, metadata), JSON drop records,
reprocess semantics (tokens, force) and the failure index `picops ingest failures` reads."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from typing import Any

import pytest
from PIL import Image, ImageCms

from picops.core.ingest import JobStore, make_thumbnail
from picops.core.ingest.drops import DropRejected, parse_drop
from picops.core.ingest.reprocess import FORCE_ATTRIBUTE, TOKEN_ATTRIBUTE
from picops.core.ingest.thumbnails import ImageRejected
from tests import ingest_support as ins


def _pixel(image: Image.Image, x: float, y: float) -> tuple[int, ...]:
    value = image.convert("RGB").getpixel((int(x * (image.width - 1)), int(y * (image.height - 1))))
    assert isinstance(value, tuple)
    return value


# -- thumbnails ---------------------------------------------------------------------------------------


def test_exif_orientation_6_is_applied_after_the_thumbnail() -> None:
    # Stored 1200x800 landscape, left red / right blue; orientation 6 means "rotate 90 clockwise to view".
    thumb = make_thumbnail(ins.jpeg(1200, 800, orientation=6), size=256)
    image = ins.open_image(thumb.data)
    assert image.size == (171, 256)
    assert thumb.orientation == 6
    top, bottom = _pixel(image, 0.5, 0.05), _pixel(image, 0.5, 0.95)
    assert top[0] > 150 > top[2]  # red (the stored left edge) is now on top
    assert bottom[2] > 150 > bottom[0]
    assert not image.getexif()  # no EXIF (so no orientation applied twice, no GPS)


@pytest.mark.parametrize("orientation", [1, 2, 3, 4, 5, 7, 8])
def test_every_orientation_gives_the_viewed_shape(orientation: int) -> None:
    thumb = make_thumbnail(ins.jpeg(300, 200, orientation=orientation), size=60)
    expected = (40, 60) if orientation >= 5 else (60, 40)
    assert (thumb.width, thumb.height) == expected


def test_jpeg_decodes_at_reduced_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    drafts: list[tuple[Any, Any]] = []
    from PIL import JpegImagePlugin

    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self: Any, mode: Any, size: Any) -> Any:
        result = original(self, mode, size)
        drafts.append((size, self.size))
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    make_thumbnail(ins.jpeg(4000, 3000, orientation=6), size=256)
    # The decoder was asked for a reduced scale and delivered at most 1/4 of full size (never full size).
    assert drafts
    assert all(after[0] <= 1000 for _, after in drafts)


def test_png_alpha_is_flattened_on_white_and_webp_works() -> None:
    thumb = make_thumbnail(ins.png_alpha(400, 300), size=100)
    image = ins.open_image(thumb.data)
    assert image.mode == "RGB"
    assert image.size == (100, 75)
    corner, centre = _pixel(image, 0.02, 0.02), _pixel(image, 0.5, 0.5)
    assert min(corner) > 240  # transparent -> white
    assert centre[1] > 120
    assert centre[0] < 60
    webp = make_thumbnail(ins.webp(640, 480), size=64)
    assert (webp.width, webp.height, webp.source_format) == (64, 48, "WEBP")


def test_an_embedded_icc_profile_is_converted_to_srgb_and_not_carried() -> None:
    # The conversion runs through LittleCMS on the small image; an sRGB-tagged source keeps its colour, the
    # output carries no profile (it is sRGB), and an unusable profile never fails the image.
    srgb = ImageCms.createProfile("sRGB")
    source = io.BytesIO()
    image = Image.new("RGB", (200, 100), (64, 64, 64))
    icc = ImageCms.ImageCmsProfile(srgb).tobytes()
    image.save(source, "JPEG", icc_profile=icc, quality=95)
    thumb = ins.open_image(make_thumbnail(source.getvalue(), size=50).data)
    assert "icc_profile" not in thumb.info
    assert abs(_pixel(thumb, 0.5, 0.5)[0] - 64) <= 3  # sRGB -> sRGB keeps the colour
    # A broken profile does not fail the image.
    broken = io.BytesIO()
    image.save(broken, "JPEG", icc_profile=b"not a profile" * 20)
    assert make_thumbnail(broken.getvalue(), size=50).width == 50


def test_formats_are_detected_by_content_and_limited() -> None:
    tiff = io.BytesIO()
    Image.new("RGB", (10, 10)).save(tiff, "TIFF")
    with pytest.raises(ImageRejected, match="TIFF images are not supported"):
        make_thumbnail(tiff.getvalue())
    png_bytes = ins.png_alpha(20, 20)
    assert make_thumbnail(png_bytes, size=10).source_format == "PNG"  # whatever the name says
    with pytest.raises(
        ImageRejected, match="too many pixels: 100x100 = 10,000 > \\[ingest\\] max_pixels 9,999"
    ):
        make_thumbnail(ins.jpeg(100, 100), max_pixels=9_999)


# -- JSON drops ---------------------------------------------------------------------------------------


def test_a_json_drop_stores_each_record_with_decimal_numbers(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    records = [
        {"id": "cam-1", "lat": 51.5072, "count": 3, "tags": ["a", "b"], "nested": {"x": 0.1}},
        {"id": 42, "flag": True, "nothing": None},
    ]
    obj = ins.put(aws, stack, "incoming/drops/cams.json", json.dumps(records).encode())
    assert ingest.handler(ins.event_for([obj], stack), ins.FakeContext()) == {"batchItemFailures": []}
    from boto3.dynamodb.types import TypeDeserializer

    table = aws.client("dynamodb")
    first = table.get_item(TableName=stack.table, Key={"pk": {"S": "cam-1"}, "sk": {"S": "RECORD"}})["Item"]
    assert first["lat"] == {"N": "51.5072"}
    assert first["count"] == {"N": "3"}
    assert TypeDeserializer().deserialize(first["nested"]) == {"x": Decimal("0.1")}
    assert first["picops_source"]["S"] == f"{stack.uploads}/incoming/drops/cams.json#{obj['version']}"
    second = table.get_item(TableName=stack.table, Key={"pk": {"S": "42"}, "sk": {"S": "RECORD"}})["Item"]
    assert second["flag"] == {"BOOL": True}
    assert second["nothing"] == {"NULL": True}
    (job,) = ins.job_items(aws, stack, "incoming/drops/cams.json")
    assert (job["status"], job["kind"], job["outputs"]) == ("PROCESSED", "json", 2)
    (note,) = ins.notifications(aws, stack)
    assert note["attributes"]["kind"] == "json"
    assert note["body"]["outputs"] == 2


def test_records_without_an_id_are_keyed_by_the_object_key() -> None:
    single = parse_drop(b'{"a": 1}', key="incoming/one.json", source="s", max_bytes=1000)
    assert [(i["pk"]["S"], i["sk"]["S"]) for i in single.items] == [("incoming/one.json", "RECORD")]
    many = parse_drop(b'[{"a": 1}, {"a": 2}]', key="incoming/m.json", source="s", max_bytes=1000)
    assert [i["sk"]["S"] for i in many.items] == ["RECORD#000000", "RECORD#000001"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"[]", "empty list"),
        (b'"text"', "record 0 is a string, not an object"),
        (b'[{"id": true}]', "id must be a string or an integer"),
        (b'[{"id": 1.5}]', "is not an integer"),
        (b'[{"id": 1}, {"id": 1}]', "same id"),
        (b'[{"id": "OBJ#x"}]', "prefix picops reserves"),
        (b'[{"pk": "x"}]', "reserved attribute"),
        (b'{"n": NaN}', "NaN is not a JSON number"),
        (b'{"n": 1e400}', "record 0"),
        (b"\xff\xfe not utf-8", "not UTF-8"),
        (json.dumps([{"id": 1, "blob": "x" * 410_000}]).encode(), "over the 400 KB item limit"),
    ],
)
def test_bad_drops_are_rejected_whole_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(DropRejected, match=reason.replace("(", "\\(")):
        parse_drop(data, key="incoming/x.json", source="s", max_bytes=1_000_000)


def test_an_oversize_record_fails_the_whole_drop_and_writes_nothing(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    drop = [{"id": "small"}, {"id": "huge", "blob": "x" * 420_000}]
    obj = ins.put(aws, stack, "incoming/drops/huge.json", json.dumps(drop).encode())
    assert ingest.handler(ins.event_for([obj], stack), ins.FakeContext()) == {"batchItemFailures": []}
    (job,) = ins.job_items(aws, stack, obj["key"])
    assert job["status"] == "FAILED"
    assert "record 1" in job["reason"]
    assert "400 KB" in job["reason"]
    pks = {i["pk"]["S"] for i in aws.client("dynamodb").scan(TableName=stack.table)["Items"]}
    assert "small" not in pks


def test_unprocessed_batch_items_are_sent_again(aws: Any, stack: ins.IngestStack) -> None:
    from picops.core.ingest.drops import write_items

    dynamodb = aws.client("dynamodb")
    items = list(
        parse_drop(
            json.dumps([{"id": i} for i in range(30)]).encode(), key="k", source="s", max_bytes=10**6
        ).items
    )
    real = dynamodb.batch_write_item
    calls: list[int] = []

    def flaky(**kwargs: Any) -> Any:
        requests = kwargs["RequestItems"][stack.table]
        calls.append(len(requests))
        if len(calls) == 1:  # first call: DynamoDB accepts 20 of the 25
            real(RequestItems={stack.table: requests[:20]})
            return {"UnprocessedItems": {stack.table: requests[20:]}}
        return real(**kwargs)

    assert (
        write_items(
            type("D", (), {"batch_write_item": staticmethod(flaky)})(),
            stack.table,
            items,
            sleep=lambda _s: None,
        )
        == 3
    )
    assert calls == [25, 5, 5]
    assert dynamodb.scan(TableName=stack.table)["Count"] == 30


# -- reprocess tokens and force -----------------------------------------------------------------------


def test_reprocess_takes_failed_versions_force_takes_any_and_a_token_works_once(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    bad = ins.put(aws, stack, "incoming/r-bad.json", b"{nope")
    good = ins.put(aws, stack, "incoming/r-good.jpg", ins.jpeg(64, 64))
    context = ins.FakeContext()
    assert ingest.handler(ins.event_for([bad, good], stack), context) == {"batchItemFailures": []}
    assert len(ins.notifications(aws, stack)) == 2

    def reprocess(obj: dict[str, Any], token: str, force: bool) -> dict[str, Any]:
        body = {"Records": ins.s3_records([obj], stack.uploads)}
        attrs = {TOKEN_ATTRIBUTE: token, FORCE_ATTRIBUTE: "true" if force else "false"}
        return ins.sqs_event([body], attributes=[attrs])

    # Without force: the FAILED version is tried again (and fails again), the PROCESSED one is skipped.
    for event in (reprocess(bad, "t1", False), reprocess(good, "t2", False)):
        assert ingest.handler(event, context) == {"batchItemFailures": []}
    notes = ins.notifications(aws, stack)
    assert [n["body"]["key"] for n in notes] == ["incoming/r-bad.json"]
    assert ins.job_items(aws, stack, bad["key"])[0]["attempts"] == 2
    assert ins.job_items(aws, stack, good["key"])[0]["attempts"] == 1
    # With force: a new attempt and a new notification; the same message redelivered does nothing.
    forced = reprocess(good, "t3", True)
    for _ in range(2):
        assert ingest.handler(forced, context) == {"batchItemFailures": []}
    notes = ins.notifications(aws, stack)
    assert [(n["body"]["key"], n["body"]["attempts"]) for n in notes] == [("incoming/r-good.jpg", 2)]


def test_failures_are_listed_newest_first_from_the_index_not_a_scan(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    objects = [ins.put(aws, stack, f"incoming/f{i}.json", b"{bad") for i in range(3)]
    ok = ins.put(aws, stack, "incoming/fine.json", b"{}")
    for obj in [*objects, ok]:
        assert ingest.handler(ins.event_for([obj], stack), ins.FakeContext()) == {"batchItemFailures": []}
    dynamodb = aws.client("dynamodb")
    store = JobStore(dynamodb, stack.table)
    with ins.count_calls_context(dynamodb) as calls:
        failures = store.failures(dt.datetime.now(dt.UTC) - dt.timedelta(hours=24))
    assert "Scan" not in calls
    assert calls["Query"] >= 1
    assert [f.key for f in failures] == ["incoming/f2.json", "incoming/f1.json", "incoming/f0.json"]
    assert all(f.status == "FAILED" and "invalid JSON" in (f.reason or "") for f in failures)
    # A failure fixed by a later attempt drops out of the listing.
    dynamodb.put_item(
        TableName=stack.table,
        Item={
            "pk": {"S": f"OBJ#{stack.uploads}/incoming/f1.json"},
            "sk": {"S": f"V#{objects[1]['version']}"},
            "status": {"S": "PROCESSED"},
        },
    )
    assert [f.key for f in store.failures(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))] == [
        "incoming/f2.json",
        "incoming/f0.json",
    ]
    assert store.failures(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)) == []
