"""The demo's local-runtime step, after provision and the tag-backfill step (the order the demo runs)."""

from __future__ import annotations

from typing import Any

import pytest

from picops.cli.demo_steps import STEPS, DemoContext, dlq, tag_backfill
from picops.cli.demo_steps import local_runtime as step
from picops.cli.output import Output
from picops.config import AwsSettings, Settings

pytestmark = pytest.mark.e2e


def _context(endpoint: str, server_factory: Any) -> DemoContext:
    return DemoContext(
        settings=Settings(aws=AwsSettings(region="us-east-1", endpoint_url=endpoint)),
        factory=server_factory,
        out=Output(),
    )


def test_step_order() -> None:
    titles = [s.title for s in STEPS]
    assert titles.index(tag_backfill.STEP.title) + 1 == titles.index(step.STEP.title)
    assert titles.index(step.STEP.title) + 1 == titles.index(dlq.STEP.title)


def test_step_tags_through_the_stream_after_tag_backfill(
    cli: Any, endpoint: str, server_factory: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    ctx = _context(endpoint, server_factory)
    assert tag_backfill.STEP.run(ctx).ok
    result = step.run(ctx)
    assert result.ok, result.detail
    assert result.data["tags"] == {"moderation-status": step.VERDICT}
    mappings = {m["logical"]: m for m in result.data["runtime"]["mappings"]}
    assert mappings["IngestFunctionMapping"]["status"] == "ok"
    # The tag-backfill step's verdicts came after provision too: delivered, and left unchanged.
    assert mappings["ModerationStreamFunctionMapping"]["records"] > 1
    # Handler logs are short lines and metrics are counted, not printed as EMF documents.
    err = capsys.readouterr().err
    assert "ModerationStreamFunction  object processed" in err
    assert '"_aws"' not in err
    assert result.data["runtime"]["metrics"]["ModerationTagged"] >= 1


def test_step_fails_when_the_object_is_not_tagged(
    cli: Any, endpoint: str, server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    # A runtime that delivers nothing: the step must notice the missing tag.
    monkeypatch.setattr(step.LocalRuntime, "drain", lambda self: None)
    result = step.run(_context(endpoint, server_factory))
    assert not result.ok
    assert "tag moderation-status=None" in result.detail
