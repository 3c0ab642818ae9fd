"""The resource-kind registry: every model type the stack can hold has exactly one kind module, matched by
exact type, so provision never meets a type it cannot read, plan, apply, delete or export, and a referenced
(vendor-owned) table never takes the managed table's path."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest
from botocore.stub import Stubber

from picops.aws import ClientFactory
from picops.config import AwsSettings, Settings, load_settings
from picops.provision import kinds, live
from picops.stack.build import build_model
from picops.stack.model import ReferencedTable, Resource, Table
from picops.stack.names import StackNames


def _model_types(**overrides: Any) -> set[type[Resource]]:
    settings = load_settings(overrides=overrides, use_files=False)
    return {type(r) for r in build_model(settings, "123456789012", "eu-west-1")}


def test_every_model_type_has_a_kind_module() -> None:
    jwt = {"authorizer": "jwt", "jwt_issuer": "https://idp.example.com/p", "jwt_audience": ["a"]}
    types = _model_types(bookings=jwt) | _model_types(moderation={"external": True, "table_name": "vendor"})
    assert ReferencedTable in types
    assert types <= set(kinds.KINDS), sorted(t.__name__ for t in types - set(kinds.KINDS))


def test_each_kind_module_is_registered_under_its_own_model_type() -> None:
    for model_type, module in kinds.KINDS.items():
        assert module.MODEL is model_type  # type: ignore[attr-defined]


def test_a_referenced_table_is_never_changed_or_deleted_and_a_managed_one_is() -> None:
    vendor = ReferencedTable("ModerationTable", "vendor", hash_key="image_id")
    ours = Table("JobsTable", "jobs")
    assert kinds.kind_of(vendor) is not kinds.kind_of(ours)
    assert kinds.referenced(vendor)
    assert not kinds.referenced(ours)


def test_a_type_with_no_kind_is_refused_by_name() -> None:
    class Unknown(Resource):
        pass

    with pytest.raises(TypeError, match="Unknown"):
        kinds.kind_of(Unknown("X", "x"))


def _ctx_with(service: str) -> tuple[Any, Stubber]:
    settings = Settings()
    model = build_model(settings, "123456789012", "us-east-1")
    factory = ClientFactory(AwsSettings(region="us-east-1"))
    client = factory.client(service)
    stubber = Stubber(client)
    stubber.activate()
    ctx = live.Context(factory=factory, model=model, names=StackNames(settings, "123456789012", "us-east-1"))
    return ctx, stubber


def test_a_missing_resource_reads_as_none_so_the_plan_creates_it() -> None:
    ctx, stubber = _ctx_with("s3")
    policy = ctx.model.get("UploadsBucketPolicy")
    stubber.add_client_error("get_bucket_policy", "NoSuchBucketPolicy", http_status_code=404)
    assert kinds.kind_of(policy).read(policy, ctx) is None
    stubber.assert_no_pending_responses()


def test_a_refused_read_is_an_error_not_a_missing_resource() -> None:
    # Read as "missing", AccessDenied would plan a create over a resource that exists but is not readable.
    ctx, stubber = _ctx_with("s3")
    policy = ctx.model.get("UploadsBucketPolicy")
    stubber.add_client_error("get_bucket_policy", "AccessDenied", http_status_code=403)
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        kinds.kind_of(policy).read(policy, ctx)
