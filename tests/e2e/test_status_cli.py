"""`picops status` on an 80-column terminal: whole names, an `N/N ok` summary, a hint for an unknown stack."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def test_status_prints_whole_names_at_80_columns_and_a_summary(
    cli: Any, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    provisioned = cli("provision", "--yes", "--json", endpoint=endpoint)
    assert provisioned.exit_code == 0, provisioned.stderr
    resources = cli("status", "--json", endpoint=endpoint).json()["resources"]
    monkeypatch.setenv("COLUMNS", "80")
    result = cli("status", endpoint=endpoint)
    assert result.exit_code == 0, result.stderr
    for resource in resources:
        assert resource["name"] in result.stdout, resource["name"]
    assert f"{len(resources)}/{len(resources)} ok" in result.stdout
    assert "…" not in result.stdout


def test_status_of_an_unknown_stack_suggests_provision_with_the_same_target(cli: Any, endpoint: str) -> None:
    result = cli("--stack", "never-made", "status", endpoint=endpoint)
    assert result.exit_code == 1
    assert "not provisioned" in result.stderr
    assert f"picops --endpoint-url {endpoint} --stack never-made provision" in result.stderr
