from __future__ import annotations

from typing import Any

import pytest

from picops.cli.demo_steps import DemoContext
from picops.cli.demo_steps import tag_backfill as step
from picops.cli.output import Output
from picops.config import AwsSettings, Settings
from tests import tagging_support as ts

pytestmark = pytest.mark.e2e


def _context(endpoint: str, server_factory: Any) -> DemoContext:
    return DemoContext(
        settings=Settings(aws=AwsSettings(region="us-east-1", endpoint_url=endpoint)),
        factory=server_factory,
        out=Output(),
    )


def test_demo_step_after_provision(endpoint: str, server_factory: Any) -> None:
    stack = ts.create_stack(server_factory)
    result = step.run(_context(endpoint, server_factory))
    assert result.ok, result.detail
    assert result.data["created"] == []
    assert result.data["first"]["pending"] == 3
    assert ts.tags_of(server_factory, stack.uploads_bucket, f"{step.PREFIX}beach.jpg") == {
        "owner": "ana",
        "camera": "x100",
        ts.TAG_KEY: "approved",
    }


def test_demo_step_fails_when_the_outcome_differs(
    endpoint: str, server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ts.create_stack(server_factory)
    # A verdict outside the allowed set makes one object fail: the step must say so.
    monkeypatch.setitem(step.SAMPLES, f"{step.PREFIX}beach.jpg", "unknown-verdict")
    result = step.run(_context(endpoint, server_factory))
    assert not result.ok
    assert "1 failed" in result.detail
