"""Golden record of what provision says over the full model: the plan (JSON as `provision --plan --json`
prints it, with each resource's desired state), the CloudFormation export and the destroy order. Reorganising
how resource kinds are read, diffed, applied, deleted and rendered must leave all three byte-for-byte equal;
a deliberate change to the stack regenerates them with UPDATE_GOLDEN=1 and shows up in review."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from picops.aws import ClientFactory
from picops.config import Settings, load_settings
from picops.provision import live
from picops.provision.cloudformation import render_template, template_model
from picops.provision.destroy import plan_destroy
from picops.provision.plan import context_for, make_plan

GOLDEN = Path(__file__).parents[1] / "golden"


def _settings() -> Settings:
    # Every optional kind present: the JWT authorizer, a reserved concurrency, an inventory bucket.
    return load_settings(
        overrides={
            "aws": {"region": "us-east-1"},
            "bookings": {
                "authorizer": "jwt",
                "jwt_issuer": "https://idp.example.com/pool",
                "jwt_audience": ["app"],
            },
            "deploy": {"functions": {"PaymentFunction": {"reserved_concurrency": 5}}},
            "moderation": {"inventory_bucket": "picops-inventory-example"},
        },
        use_files=False,
    )


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1 once"
    assert text == path.read_text(), f"{name} differs from the golden record"


def _dump(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=False, default=str) + "\n"


def test_plan_export_and_destroy_order_match_the_golden_record(aws: ClientFactory) -> None:
    settings = _settings()
    ctx = context_for(settings, aws)
    plan = make_plan(ctx)
    document = plan.as_dict()
    document["desired"] = {c.logical: live.resolved_desired(c.resource, ctx) for c in plan.changes}
    _check("provision-plan.json", _dump(document))
    _check("provision-export.json", render_template(template_model(settings), settings))
    order = [
        [r.logical, r.type, action, detail] for r, action, detail in plan_destroy(context_for(settings, aws))
    ]
    _check("provision-destroy.json", _dump(order))
