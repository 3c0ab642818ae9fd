"""The demo's ingest step on the moto server, after the steps before it (provision ... dlq)."""

from __future__ import annotations

from typing import Any

import pytest

from picops.cli.demo_steps import STEPS, DemoContext, dlq
from picops.cli.demo_steps import ingest as step
from picops.cli.output import Output
from picops.config import AwsSettings, Settings

pytestmark = pytest.mark.e2e


def _context(endpoint: str, server_factory: Any) -> DemoContext:
    return DemoContext(
        settings=Settings(aws=AwsSettings(region="us-east-1", endpoint_url=endpoint)),
        factory=server_factory,
        out=Output(),
    )


def test_the_ingest_step_runs_after_the_dlq_step() -> None:
    titles = [s.title for s in STEPS]
    assert titles.index(dlq.STEP.title) < titles.index(step.STEP.title)


def test_step_checks_thumbnails_records_jobs_notifications_and_the_dlq(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    ctx = _context(endpoint, server_factory)
    assert dlq.STEP.run(ctx).ok  # leaves a poisoned (missing-object) message in IngestQueue
    result = step.run(ctx)
    assert result.ok, result.detail
    assert result.data["thumbnails"] == {
        "jpeg": [192, 256],
        "png": [256, 171],
        "webp": [256, 192],
        "heic": [192, 256],
        "avif": [192, 256],
    }
    keys = result.data["keys"]
    assert result.data["renditions"] == {
        name: [f"thumbnails/{keys[name]}.jpg"] for name in ("jpeg", "png", "webp", "heic", "avif")
    }
    assert result.data["jobs"]["corrupt"] == ["FAILED"]
    assert result.data["dlq_messages"] == 0
    assert all(len(statuses) == 1 for statuses in result.data["notifications"].values())


def test_step_fails_when_nothing_is_delivered(
    cli: Any, endpoint: str, server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    monkeypatch.setattr(step.LocalRuntime, "drain", lambda self: None)
    result = step.run(_context(endpoint, server_factory))
    assert not result.ok
    assert "no thumbnail for" in result.detail
    assert "notifications for" in result.detail
