"""Hints keep the target, prompts and usage errors behave (the operator's first day, items seen by hand)."""

from __future__ import annotations

from typing import Any

import pytest
import typer

from picops.local.endpoint import free_port

pytestmark = pytest.mark.e2e


def test_a_closed_port_hint_names_that_port(cli: Any) -> None:
    port = free_port()
    r = cli("--stack", "blue", "ingest", "status", "k", endpoint=f"http://127.0.0.1:{port}")
    assert r.exit_code == 3, r.stderr
    assert f"`picops local up --detach --port {port}`" in r.stderr


def test_a_missing_resource_hint_keeps_the_endpoint_and_stack(cli: Any, endpoint: str) -> None:
    r = cli("--stack", "blue", "ingest", "status", "k", endpoint=endpoint)
    assert r.exit_code == 3, r.stderr
    assert f"`picops --endpoint-url {endpoint} --stack blue provision --plan`" in r.stderr
    assert "error: resource missing calling Query on blue-jobs" in r.stderr


def test_interrupted_tag_backfill_suggests_resuming_on_the_same_target(
    cli: Any, endpoint: str, server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_factory.client("s3").create_bucket(Bucket="photos")

    def interrupted(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr("picops.core.tagging.engine.TaggingEngine.run", interrupted)
    r = cli("--stack", "blue", "tag-backfill", "--bucket", "photos", "--state", "s.json", endpoint=endpoint)
    assert r.exit_code == 130, r.stderr
    assert f"`picops --endpoint-url {endpoint} --stack blue tag-backfill --resume --state s.json`" in r.stderr


@pytest.mark.usefixtures("iam_off")
def test_ctrl_c_at_a_confirmation_prompt_exits_130_and_changes_nothing(
    cli: Any, endpoint: str, server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = server_factory.client("sqs")
    url = sqs.create_queue(QueueName="q-to-purge")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="keep me")
    monkeypatch.setattr("picops.cli.confirm.interactive", lambda: True)
    real_confirm = typer.confirm

    def ctrl_c(*_args: Any, **_kwargs: Any) -> bool:
        raise typer.Abort()  # what Click's prompt raises on Ctrl-C (KeyboardInterrupt) and on end of input

    monkeypatch.setattr(typer, "confirm", ctrl_c)
    r = cli("dlq", "purge", "q-to-purge", endpoint=endpoint)
    assert r.exit_code == 130, r.stderr
    assert "Aborted" not in r.stderr
    assert "error: interrupted: nothing done" in r.stderr
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "1"
    # End of input at the prompt is the same path (Click raises Abort for both).
    monkeypatch.setattr(typer, "confirm", real_confirm)
    r = cli("dlq", "purge", "q-to-purge", endpoint=endpoint, input="")
    assert r.exit_code == 130, r.stderr
