"""`picops local run` keeps the terminal quiet: short handler lines, metrics counted in the summary."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from picops.config import Settings
from picops.stack.names import StackNames

pytestmark = pytest.mark.e2e


def _verdict(cli: Any, endpoint: str, factory: Any) -> None:
    provisioned = cli("provision", "--yes", "--json", endpoint=endpoint)
    assert provisioned.exit_code == 0, provisioned.stderr
    names = StackNames(Settings(), factory.account_id(), factory.region)
    key = f"moderation-demo/logs-{uuid.uuid4()}.jpg"
    factory.client("s3").put_object(Bucket=names.uploads_bucket, Key=key, Body=b"img")
    factory.client("dynamodb").put_item(
        TableName=names.moderation_table, Item={"object_key": {"S": key}, "status": {"S": "approved"}}
    )


def test_terminal_shows_one_line_per_record_and_metrics_in_the_summary(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    _verdict(cli, endpoint, server_factory)
    result = cli("local", "run", "--once", "--json", endpoint=endpoint)
    assert result.exit_code == 0, result.stderr
    assert '"_aws"' not in result.stderr
    assert "INFO    ModerationStreamFunction  object processed" in result.stderr
    assert result.json()["metrics"]["ModerationTagged"] >= 1
    # The per-function log file keeps the full JSON, metric documents included.
    files = list((Path(os.environ["PICOPS_STATE_DIR"]) / "logs").glob("*.jsonl"))
    messages = [json.loads(line)["message"] for f in files for line in f.read_text().splitlines()]
    assert any('"_aws"' in m and "ModerationTagged" in m for m in messages)


def test_log_format_json_prints_the_handler_lines_as_written(
    cli: Any, endpoint: str, server_factory: Any
) -> None:
    _verdict(cli, endpoint, server_factory)
    result = cli("local", "run", "--once", "--log-format", "json", "--json", endpoint=endpoint)
    assert result.exit_code == 0, result.stderr
    assert '"_aws"' in result.stderr
    assert '"message":"object processed"' in result.stderr
    bad = cli("local", "run", "--once", "--log-format", "xml", endpoint=endpoint)
    assert bad.exit_code == 2
    assert "--log-format" in bad.stderr
