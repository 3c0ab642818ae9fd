"""A Lambda's cold start loads only what its path needs (bench/startup.py measures the time)."""

from __future__ import annotations

import json
import subprocess
import sys


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return set(json.loads(out.stdout))


def test_thumbnails_come_without_the_pipeline_boto3_or_the_configuration() -> None:
    loaded = _loaded_after("from picops.core.ingest import make_thumbnail")
    assert {"picops.core.ingest.pipeline", "boto3", "botocore", "picops.config"} & loaded == set()


def test_the_ingest_package_still_offers_every_name_it_lists() -> None:
    import picops.core.ingest as ingest

    assert [name for name in ingest.__all__ if not hasattr(ingest, name)] == []
