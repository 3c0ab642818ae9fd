"""A Lambda's cold start loads only what its path needs (bench/startup.py measures the time)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest


def _loaded_after(statement: str, env: dict[str, str] | None = None) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    environ = {**os.environ, **(env or {})}
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=environ
    )
    return set(json.loads(out.stdout))


# What Lambda's runtime sets: Powertools turns its Tracer on only there.
IN_LAMBDA = {"LAMBDA_TASK_ROOT": "/var/task", "AWS_REGION": "us-east-1", "AWS_LAMBDA_FUNCTION_NAME": "f"}


def test_thumbnails_come_without_the_pipeline_boto3_or_the_configuration() -> None:
    loaded = _loaded_after("from picops.core.ingest import make_thumbnail")
    assert {"picops.core.ingest.pipeline", "boto3", "botocore", "picops.config"} & loaded == set()


@pytest.mark.parametrize(
    ("handler", "not_loaded"),
    [
        # removals and images with an ICC profile load their modules on the first such event
        (
            "ingest",
            {"picops.core.tagging", "picops.core.bookings", "picops.core.ingest.removal", "PIL.ImageCms"},
        ),
        (
            "moderation",
            {
                "picops.core.tagging.backfill",
                "picops.core.tagging.checkpoint",
                "picops.core.tagging.batch_ops",
                "picops.core.tagging.sources.inventory",
            },
        ),
        (
            # the API and the queue consumers share the module: the API's router loads on its first
            # request, the consumers' metric publishing on their first batch
            "bookings",
            {
                "picops.core.bookings.checker",
                "picops.core.ingest",
                "aws_lambda_powertools.event_handler",
                "picops.handlers._metrics",
                "picops.stack.metrics",
            },
        ),
        (
            "repairs",  # the outbox sweep: the store and the publisher, nothing of the API or the consumers
            {
                "picops.core.bookings.checker",
                "picops.core.bookings.payments",
                "picops.core.ingest",
                "aws_lambda_powertools.event_handler",
            },
        ),
    ],
)
def test_a_handler_loads_neither_pydantic_settings_nor_other_paths(
    handler: str, not_loaded: set[str]
) -> None:
    loaded = _loaded_after(f"import picops.handlers.{handler}")
    assert not_loaded & loaded == set()
    assert [m for m in loaded if m.startswith("pydantic_settings")] == []
    assert [
        m for m in loaded if m.startswith(("picops.cli", "picops.provision", "picops.local", "typer"))
    ] == []


@pytest.mark.parametrize(
    "package",
    ["picops.core.ingest", "picops.core.tagging", "picops.core.tagging.sources", "picops.core.bookings"],
)
def test_lazy_packages_still_offer_every_name_they_list(package: str) -> None:
    module = importlib.import_module(package)
    assert [name for name in module.__all__ if getattr(module, name, None) is None] == []


def test_a_lazy_name_shadowed_by_its_own_submodule_is_still_the_function() -> None:
    # `from picops.core.ingest import parse_since, reprocess`: loading parse_since imports the submodule
    # `reprocess`, which Python binds on the package under the same name as the function.
    code = (
        "from picops.core.ingest import parse_since, reprocess\n"
        "import inspect\n"
        "assert inspect.isfunction(reprocess), reprocess\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("handler", "deferred"),
    [
        ("ingest", {"picops.config", "pydantic", "picops.core.ingest.backfill"}),
        ("moderation", {"picops.config", "pydantic"}),
        ("bookings", {"picops.config"}),
    ],
)
def test_a_handler_defers_the_batch_utility_and_its_settings_to_its_first_event(
    handler: str, deferred: set[str]
) -> None:
    loaded = _loaded_after(f"import picops.handlers.{handler}", IN_LAMBDA)
    batch = {"aws_lambda_powertools.utilities.batch", "aws_lambda_powertools.utilities.data_classes"}
    later = batch | deferred
    assert later & loaded == set()


@pytest.mark.parametrize("handler", ["ingest", "moderation", "bookings"])
def test_in_lambda_the_tracer_patches_botocore_and_nothing_else(handler: str) -> None:
    loaded = _loaded_after(f"import picops.handlers.{handler}", IN_LAMBDA)
    # Each library the X-Ray SDK patches has its own `aws_xray_sdk.ext.<library>.patch` module.
    patched = {m.split(".")[2] for m in loaded if m.startswith("aws_xray_sdk.ext.") and m.endswith(".patch")}
    assert patched == {"botocore"}


@pytest.mark.parametrize("handler", ["ingest", "moderation", "bookings", "repairs"])
def test_with_tracing_off_a_handler_never_imports_the_xray_sdk(handler: str) -> None:
    # What the model sets by default (`[observability] tracing = false`): Powertools' own Tracer would load
    # the SDK even disabled, about 50 ms of a cold start (bench/startup.py).
    off = {**IN_LAMBDA, "POWERTOOLS_TRACE_DISABLED": "true"}
    loaded = _loaded_after(f"import picops.handlers.{handler}", off)
    assert [m for m in loaded if m.split(".")[0] == "aws_xray_sdk"] == []


@pytest.mark.parametrize("handler", ["bookings", "repairs"])
def test_the_bookings_handlers_validate_without_pydantic(handler: str) -> None:
    # pydantic's import alone is most of what bookings' cold start added over boto3's (bench/startup.py);
    # the API's bodies and the queue messages are checked by core/bookings/fields.py instead.
    for env in (None, IN_LAMBDA):
        loaded = _loaded_after(f"import picops.handlers.{handler}", env)
        assert [m for m in loaded if m.split(".")[0] in {"pydantic", "pydantic_core"}] == []


def test_the_apis_router_comes_without_pydantic() -> None:
    # Powertools' resolver imports pydantic only with enable_validation, which the API leaves off.
    loaded = _loaded_after("import picops.handlers.bookings as h; h._api()", IN_LAMBDA)
    assert "aws_lambda_powertools.event_handler" in loaded
    assert [m for m in loaded if m.split(".")[0] in {"pydantic", "pydantic_core"}] == []
