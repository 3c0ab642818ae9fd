"""`picops provision --export cloudformation`: the template is the model, and cfn-lint passes on it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from picops.stack.names import logical_names

CFN_LINT = shutil.which("cfn-lint") or str(Path(sys.executable).with_name("cfn-lint"))


def _lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CFN_LINT, str(path)], capture_output=True, text=True, timeout=180, check=False)


@pytest.mark.slow
def test_export_passes_cfn_lint_and_holds_the_stack(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "stack.json"
    result = cli("provision", "--export", "cloudformation", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    template = json.loads(out.read_text())
    resources = template["Resources"]
    for logical in logical_names():
        assert logical in resources, logical
    assert resources["IngestFunctionMapping"]["Type"] == "AWS::Lambda::EventSourceMapping"
    assert resources["UploadsBucket"]["DeletionPolicy"] == "Retain"
    assert "NotificationConfiguration" in resources["UploadsBucket"]["Properties"]
    assert "UploadsBucketPolicy" in resources
    batch_role = resources["ModerationBatchRole"]
    assert batch_role["Type"] == "AWS::IAM::Role"
    assert batch_role["Properties"]["RoleName"] == {"Fn::Sub": "picops-moderation-batch-${AWS::Region}"}
    trust = batch_role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "batchoperations.s3.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Fn::Sub": "${AWS::AccountId}"}}}
    lint = _lint(out)
    assert lint.returncode == 0, lint.stdout + lint.stderr

    # The check can fail: a broken reference is reported.
    resources["IngestQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] = {
        "Fn::GetAtt": ["NoSuchQueue", "Arn"]
    }
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(template))
    assert _lint(broken).returncode != 0


@pytest.mark.slow
def test_export_with_external_moderation_table_to_stdout(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICOPS_MODERATION__EXTERNAL", "true")
    result = cli("provision", "--export", "cloudformation")
    assert result.exit_code == 0, result.stderr
    template = json.loads(result.stdout)
    assert "ModerationTable" not in template["Resources"]
    assert "ModerationTableStreamArn" in template["Parameters"]
    path = tmp_path / "external.json"
    path.write_text(result.stdout)
    lint = _lint(path)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_unknown_export_format_is_a_usage_error(cli: Any) -> None:
    result = cli("provision", "--export", "terraform")
    assert result.exit_code == 2
    assert "cloudformation" in result.stderr
