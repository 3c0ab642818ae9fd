"""In-process invocation: handler resolution, the function's environment, the context object."""

from __future__ import annotations

import functools
import logging
import os
import sys
import types
from typing import Any

import pytest

from picops.local import invoke
from picops.local.invoke import FunctionTarget, HandlerBroken, HandlerUnavailable, Invoker

TARGET = FunctionTarget(
    "IngestFunction",
    "picops-ingest",
    "tests.local_support.partial_handler",
    env={"PICOPS_STACK": "demo", "PICOPS_INGEST__PREFIX": "in/"},
    timeout_s=60,
    memory_mb=256,
    arn="arn:aws:lambda:us-east-1:123456789012:function:picops-ingest:live",
)


def test_missing_module_or_function_is_unavailable() -> None:
    for entry in (
        "picops.handlers.no_such.handler",
        "no_such_package.mod.handler",
        "picops.handlers.moderation.nope",
    ):
        with pytest.raises(HandlerUnavailable, match=f"handler not available: {entry}"):
            invoke.resolve_handler(entry)


def test_a_module_failing_to_import_is_broken_not_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_import(name: str) -> Any:
        raise ModuleNotFoundError("No module named 'some_dependency'", name="some_dependency")

    monkeypatch.setattr(invoke.importlib, "import_module", fake_import)
    with pytest.raises(HandlerBroken, match="failed to import"):
        invoke.resolve_handler("picops.handlers.ingest.handler")


def test_existing_handler_resolves() -> None:
    _module, handler = invoke.resolve_handler("picops.handlers.moderation.stream_handler")
    assert callable(handler)


def test_environment_is_the_functions_for_the_call_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICOPS_AWS__PROFILE", "prod")
    monkeypatch.setenv("AWS_PROFILE", "prod")
    monkeypatch.setenv("UNRELATED", "kept")
    before = dict(os.environ)
    seen: dict[str, Any] = {}

    def handler(event: Any, context: Any) -> str:
        seen.update(os.environ)
        seen["remaining"] = context.get_remaining_time_in_millis()
        seen["context"] = context
        print("handler output")  # must not reach stdout
        return "done"

    result = Invoker(endpoint_url="http://127.0.0.1:4566", region="eu-west-1").invoke(TARGET, handler, {})
    assert result.response == "done"
    assert result.error is None
    assert dict(os.environ) == before
    assert seen["PICOPS_STACK"] == "demo"
    assert seen["PICOPS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert seen["AWS_REGION"] == "eu-west-1"
    assert seen["AWS_ACCESS_KEY_ID"] == "testing"
    assert seen["AWS_LAMBDA_FUNCTION_NAME"] == "picops-ingest"
    assert "PICOPS_AWS__PROFILE" not in seen
    assert "AWS_PROFILE" not in seen
    assert seen["UNRELATED"] == "kept"
    assert 59_000 < seen["remaining"] <= 60_000
    ctx = seen["context"]
    assert ctx.function_name == "picops-ingest"
    assert ctx.invoked_function_arn == TARGET.arn
    assert ctx.memory_limit_in_mb == 256
    assert ctx.log_group_name == "/aws/lambda/picops-ingest"
    assert ctx.aws_request_id


def test_handler_error_is_returned_and_environment_restored() -> None:
    before = dict(os.environ)

    def boom(event: Any, context: Any) -> None:
        raise ValueError("nope")

    result = Invoker(endpoint_url="http://127.0.0.1:1", region="us-east-1").invoke(TARGET, boom, {})
    assert isinstance(result.error, ValueError)
    assert dict(os.environ) == before


def test_handler_stdout_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("picops-test-stdout")
    handler = logging.StreamHandler(sys.stdout)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:

        def noisy(event: Any, context: Any) -> None:
            print("printed")
            logger.info("logged")

        Invoker(endpoint_url="http://127.0.0.1:1", region="us-east-1").invoke(TARGET, noisy, {})
        captured = capsys.readouterr()
        assert captured.out == ""
        assert "printed" in captured.err
        assert "logged" in captured.err
        assert handler.stream is sys.stdout  # put back afterwards
    finally:
        logger.removeHandler(handler)


def test_switching_function_clears_the_container_caches() -> None:
    module = types.ModuleType("fake_handlers")
    calls: list[int] = []

    @functools.cache
    def settings() -> int:
        calls.append(1)
        return len(calls)

    settings.__module__ = "fake_handlers"
    module.settings = settings  # type: ignore[attr-defined]
    invoker = Invoker(endpoint_url="http://127.0.0.1:1", region="us-east-1")
    invoker._modules = {"A": module, "B": module}
    other = FunctionTarget("Other", "picops-other", "x.y")

    def handler(event: Any, context: Any) -> int:
        return int(module.settings())  # type: ignore[attr-defined]

    assert invoker.invoke(TARGET, handler, {}).response == 1
    assert invoker.invoke(TARGET, handler, {}).response == 1  # same function: cache kept
    assert invoker.invoke(other, handler, {}).response == 2  # another function: cleared
