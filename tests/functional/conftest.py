"""Fixtures the ingest handler's functional tests share (a module's own fixture of the same name wins)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from picops.handlers import _env
from tests import ingest_support as ins


@pytest.fixture
def ingest(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The ingest handler module with the container's state cleared (each test is a fresh container)."""
    from picops.handlers import ingest as module

    monkeypatch.setenv("AWS_REGION", ins.REGION)
    _env.reset()
    yield module
    _env.reset()


@pytest.fixture
def stack(aws: Any) -> ins.IngestStack:
    return ins.create_stack(aws)
