"""The one table of functions (picops.functions): every builder reads it, so what an entry says is what the
deployed stack gets (entry point, physical name, environment, defaults, role, alarm wording)."""

from __future__ import annotations

import importlib

import pytest

from picops.config import FUNCTION_LOGICAL_NAMES, Settings
from picops.functions import FUNCTIONS, LOGICAL_NAMES, FunctionDef, function_def
from picops.stack import iam
from picops.stack.build import build_model
from picops.stack.model import Alarm, FunctionSpec, Role, StackModel
from picops.stack.names import logical_type

# Contracts: the logical names and handler entry points the deployed stack and the docs name.
CONTRACT = {
    "IngestFunction": "picops.handlers.ingest.handler",
    "ModerationStreamFunction": "picops.handlers.moderation.stream_handler",
    "ModerationSweepFunction": "picops.handlers.moderation.sweep_handler",
    "BookingApiFunction": "picops.handlers.bookings.api_handler",
    "InventoryFunction": "picops.handlers.bookings.inventory_handler",
    "PaymentFunction": "picops.handlers.bookings.payment_handler",
    "OutboxSweepFunction": "picops.handlers.repairs.outbox_handler",
    "DlqRedriveFunction": "picops.handlers.repairs.redrive_handler",
}


def _model() -> StackModel:
    return build_model(Settings(), "123456789012", "us-east-1")


def test_table_holds_the_contract_names_and_entry_points_in_order() -> None:
    assert {f.logical: f.handler for f in FUNCTIONS} == CONTRACT
    assert LOGICAL_NAMES == FUNCTION_LOGICAL_NAMES == tuple(CONTRACT)


@pytest.mark.parametrize("entry", FUNCTIONS, ids=lambda f: f.logical)
def test_entry_point_is_callable(entry: FunctionDef) -> None:
    module, _, name = entry.handler.rpartition(".")
    assert callable(getattr(importlib.import_module(module), name))


def test_every_function_has_its_own_grants() -> None:
    assert set(iam.FUNCTION_GRANTS) == set(LOGICAL_NAMES)
    with pytest.raises(KeyError, match="NoSuchFunction"):
        function_def("NoSuchFunction")


def test_model_functions_follow_the_table() -> None:
    model = _model()
    for entry in FUNCTIONS:
        spec = model.get(entry.logical)
        assert isinstance(spec, FunctionSpec)
        assert logical_type(entry.logical) == "AWS::Lambda::Function"
        assert spec.name == f"{Settings().stack.name}-{entry.name_suffix}"
        assert spec.handler == entry.handler
        assert (spec.timeout_s, spec.memory_mb) == (entry.timeout_s, entry.memory_mb)
        keys = [key for key, _ in spec.environment if "__" in key]  # PICOPS_<SECTION>__<FIELD>
        sections = {key.split("__")[0][len("PICOPS_") :].lower() for key in keys}
        assert sections - {"stack"} == set(entry.sections)
        assert isinstance(model.get(f"{entry.logical}Role"), Role)
        errors = model.get(f"{entry.logical}ErrorsAlarm")
        assert isinstance(errors, Alarm)
        assert errors.description.endswith(f"--since 15m; {entry.errors_next}.")
