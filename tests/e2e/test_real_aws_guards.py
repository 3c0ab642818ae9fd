"""Refusals that protect a real account: provision and deploy will not wire traffic to a missing handler.

The target is "real AWS" (no endpoint, dummy credentials); every request is answered client-side by the
`inject` hook, so the test shows exactly which calls were made before the refusal: none that change state.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.test_aws_errors import _error, inject

__all__ = ["inject"]

MUTATING = ("Create", "Put", "Update", "Delete", "Set", "Add", "Publish", "Tag")


def _missing_ingest(monkeypatch: pytest.MonkeyPatch) -> None:
    from picops.stack import model

    monkeypatch.setitem(model.HANDLERS, "IngestFunction", "picops.handlers.not_written_yet.handler")


def test_provision_on_aws_refuses_a_model_whose_handler_is_not_in_the_bundle(
    cli: Any, inject: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _missing_ingest(monkeypatch)
    seen = inject(lambda s, op, p: None if op == "GetCallerIdentity" else _error(500, "ShouldNotBeCalled"))
    result = cli("--region", "eu-west-1", "provision", "--yes")
    assert result.exit_code == 2, result.stderr
    assert "refusing to deploy" in result.stderr
    assert "IngestFunction" in result.stderr
    assert "picops.handlers.not_written_yet" in result.stderr
    assert "Traceback" not in result.stderr
    assert [op for op in seen if op.split(".")[1].startswith(MUTATING)] == []


def test_provision_plan_on_aws_says_so_too(cli: Any, inject: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _missing_ingest(monkeypatch)
    inject(lambda s, op, p: None if op == "GetCallerIdentity" else _error(500, "ShouldNotBeCalled"))
    result = cli("--region", "eu-west-1", "provision", "--plan")
    assert result.exit_code == 2, result.stderr
    assert "IngestFunction" in result.stderr


def test_deploy_on_aws_refuses_only_when_a_selected_function_lacks_its_handler(
    cli: Any, inject: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _missing_ingest(monkeypatch)
    seen = inject(lambda s, op, p: None if op == "GetCallerIdentity" else _error(500, "ShouldNotBeCalled"))
    result = cli("--region", "eu-west-1", "deploy", "IngestFunction")
    assert result.exit_code == 2, result.stderr
    assert "refusing to deploy" in result.stderr
    assert [op for op in seen if op.split(".")[1].startswith(MUTATING)] == []
