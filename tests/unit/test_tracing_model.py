"""`[observability] tracing`: the model, the roles and the export with X-Ray active tracing."""

from __future__ import annotations

import json

from picops.config import load_settings
from picops.provision.kinds import function as function_kind
from picops.stack.build import build_model
from picops.stack.iam import wildcard_violations


def _model(tracing: bool):  # type: ignore[no-untyped-def]
    settings = load_settings(
        overrides={"aws": {"region": "us-east-1"}, "observability": {"tracing": tracing}}, use_files=False
    )
    return build_model(settings, "123456789012", "us-east-1")


def test_tracing_on_makes_every_function_active_and_grants_only_the_segment_upload() -> None:
    model = _model(True)
    for spec in model.functions():
        assert spec.desired()["TracingConfig"] == "Active"
        assert function_kind.render(spec, model)["TracingConfig"] == {"Mode": "Active"}
        document = json.loads(model.get(spec.role).document)
        tracing = [s for s in document["Statement"] if s["Sid"] == "Tracing"]
        assert tracing == [
            {
                "Sid": "Tracing",
                "Effect": "Allow",
                "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
                "Resource": ["*"],
            }
        ]
        assert wildcard_violations(document) == []


def test_tracing_off_leaves_functions_and_roles_as_they_were() -> None:
    model = _model(False)
    for spec in model.functions():
        assert "TracingConfig" not in spec.desired()
        assert "TracingConfig" not in function_kind.render(spec, model)
        document = json.loads(model.get(spec.role).document)
        assert all("xray" not in json.dumps(s) for s in document["Statement"])


def test_tracing_off_tells_every_function_to_leave_the_xray_sdk_unloaded() -> None:
    # The handlers read it at import (picops.handlers._tracing): it is what keeps their cold start light.
    model = _model(False)
    for spec in model.functions():
        assert spec.env["POWERTOOLS_TRACE_DISABLED"] == "true"
        variables = function_kind.render(spec, model)["Environment"]["Variables"]
        assert variables["POWERTOOLS_TRACE_DISABLED"] == "true"


def test_tracing_on_leaves_the_tracer_to_run() -> None:
    model = _model(True)
    for spec in model.functions():
        assert "POWERTOOLS_TRACE_DISABLED" not in spec.env
        variables = function_kind.render(spec, model)["Environment"]["Variables"]
        assert "POWERTOOLS_TRACE_DISABLED" not in variables
