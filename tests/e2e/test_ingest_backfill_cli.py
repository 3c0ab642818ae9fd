"""`picops ingest backfill` end to end on the moto server: a rendition added to `[ingest] renditions` after
upload is made for everything stored, listed in each job, and a second run finds nothing to do."""

from __future__ import annotations

import json
from typing import Any

import pytest

from picops.config import Settings
from picops.stack.names import StackNames
from tests import ingest_support as ins

pytestmark = pytest.mark.e2e


def test_backfill_adds_a_new_rendition_to_every_stored_original(
    cli: Any, endpoint: str, server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    names = StackNames(Settings(), server_factory.account_id(), server_factory.region)
    s3 = server_factory.client("s3")
    keys = ["incoming/a photo.jpg", "incoming/deep/b.png"]
    s3.put_object(Bucket=names.uploads_bucket, Key=keys[0], Body=ins.jpeg(1200, 800))
    s3.put_object(Bucket=names.uploads_bucket, Key=keys[1], Body=ins.png_alpha(400, 300))
    s3.put_object(Bucket=names.uploads_bucket, Key="incoming/drop.json", Body=b'{"id": "r1"}')
    assert cli("local", "run", "--once", "--json", endpoint=endpoint).exit_code == 0

    renditions = [
        {"name": "thumbnail", "max_size": 256, "format": "jpeg", "quality": 85},
        {"name": "large", "max_size": 640, "format": "webp", "quality": 80},
    ]
    monkeypatch.setenv("PICOPS_INGEST__RENDITIONS", json.dumps(renditions))
    # --renditions names only configured ones (exit 2 otherwise).
    assert cli("ingest", "backfill", "--renditions", "huge", "--json", endpoint=endpoint).exit_code == 2
    dry = cli("ingest", "backfill", "--dry-run", "--json", endpoint=endpoint)
    assert dry.exit_code == 0, dry.stderr
    planned = {o["key"]: (o["result"], o["renditions"]) for o in dry.json()["objects"]}
    assert planned[keys[0]] == planned[keys[1]] == ("would_render", ["large"])
    assert planned["incoming/drop.json"][0] == "skipped"
    assert dry.json()["estimate"]["count"] == 2
    assert "Contents" not in s3.list_objects_v2(Bucket=names.processed_bucket, Prefix="thumbnails/large/")

    assert cli("ingest", "backfill", "--json", endpoint=endpoint).exit_code == 2  # needs --yes
    done = cli("ingest", "backfill", "--yes", "--json", endpoint=endpoint)
    assert done.exit_code == 0, done.stderr
    assert done.json()["counts"] == {"rendered": 2, "skipped": 1}
    for key in keys:
        large = s3.get_object(Bucket=names.processed_bucket, Key=f"thumbnails/large/{key}.webp")
        assert large["ContentType"] == "image/webp"
        assert max(ins.open_image(large["Body"].read()).size) == (640 if key == keys[0] else 400)
        (job,) = cli("ingest", "status", key, "--json", endpoint=endpoint).json()["jobs"]
        assert [r["name"] for r in job["renditions"]] == ["thumbnail", "large"]
    again = cli("ingest", "backfill", "--yes", "--json", endpoint=endpoint)
    assert again.json()["counts"] == {"complete": 2, "skipped": 1}
