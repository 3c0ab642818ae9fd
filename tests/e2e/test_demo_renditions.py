"""The demo's renditions step on the moto server: a rendition set per upload (HEIC, AVIF, a 12 MP WebP, a
12 MP JPEG), a deleted original's renditions gone, and a rendition added later backfilled everywhere."""

from __future__ import annotations

from typing import Any

import pytest

from picops.cli.demo_steps import STEPS, DemoContext, ingest
from picops.cli.demo_steps import renditions as step
from picops.cli.output import Output
from picops.config import AwsSettings, Settings

pytestmark = pytest.mark.e2e


def test_the_renditions_step_runs_after_the_ingest_step() -> None:
    titles = [s.title for s in STEPS]
    assert titles.index(ingest.STEP.title) < titles.index(step.STEP.title)


def test_step_shows_every_rendition_deletion_and_backfill(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    settings = Settings(aws=AwsSettings(region="us-east-1", endpoint_url=endpoint))
    result = step.run(DemoContext(settings=settings, factory=server_factory, out=Output()))
    assert result.ok, result.detail
    made = result.data["renditions"]
    assert sorted(made) == ["avif", "heic", "jpeg", "webp"]
    sizes = {name: {r["name"]: (r["width"], r["height"]) for r in listed} for name, listed in made.items()}
    # 12 MP landscape WebP: 256 and 1024 px on the long edge; the upright 4000x3000 JPEG (orientation 6).
    assert sizes["webp"] == {"thumbnail": (256, 192), "web": (1024, 768)}
    assert sizes["jpeg"] == {"thumbnail": (192, 256), "web": (768, 1024)}
    assert all(r["bytes"] > 0 for listed in made.values() for r in listed)
    deleted = result.data["deleted"]
    assert deleted == {"key": result.data["keys"]["jpeg"], "job": "DELETED", "left": 0, "removed": 2}
    assert result.data["backfill"] == {result.data["keys"][n]: "rendered" for n in ("heic", "avif", "webp")}
    for listed in result.data["after"].values():
        card = next(r for r in listed if r["name"] == "card")
        assert card["format"] == "avif"
        assert max(card["width"], card["height"]) == 512
        assert card["key"].startswith("thumbnails/card/")
