"""Preflight's ingest loop guards: outputs never land where uploads trigger ingest, and ingest never sees
picops's own state objects."""

from __future__ import annotations

from typing import Any

import pytest

from picops.config import load_settings
from picops.errors import ConfigError
from picops.provision.preflight import check_model, preflight_model
from picops.stack.build import build_model

ACCOUNT, REGION = "123456789012", "us-east-1"


def _problems(**sections: dict[str, Any]) -> list[str]:
    return check_model(build_model(load_settings(overrides=sections, use_files=False), ACCOUNT, REGION))


@pytest.mark.parametrize("prefix", ["", "_", "_picops/", "_picops/state/"])
def test_a_prefix_covering_the_reserved_prefix_is_refused(prefix: str) -> None:
    problems = _problems(ingest={"prefix": prefix})
    assert len([p for p in problems if "reserved prefix '_picops/'" in p]) == 1, problems
    with pytest.raises(ConfigError, match="covers picops's reserved prefix"):
        preflight_model(
            build_model(
                load_settings(overrides={"ingest": {"prefix": prefix}}, use_files=False), ACCOUNT, REGION
            )
        )


@pytest.mark.parametrize("prefix", ["incoming/", "uploads/photos/", "p"])
def test_other_prefixes_pass(prefix: str) -> None:
    assert _problems(ingest={"prefix": prefix}) == []


def test_processed_bucket_equal_to_uploads_bucket_is_refused() -> None:
    problems = _problems(ingest={"uploads_bucket": "photos-bucket", "processed_bucket": "photos-bucket"})
    assert any("ProcessedBucket and UploadsBucket are the same bucket" in p for p in problems)
