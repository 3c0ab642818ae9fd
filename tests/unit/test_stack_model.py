"""The resource model: names, wiring, security defaults and function settings, with no AWS."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import pytest

from picops.config import load_settings, settings_from_env
from picops.stack.build import build_model
from picops.stack.builders.context import FUNCTION_SECTIONS, resolved_sections
from picops.stack.model import (
    HANDLERS,
    Alarm,
    Bucket,
    BucketPolicy,
    EventSourceMapping,
    FunctionSpec,
    Queue,
    QueuePolicy,
    StackModel,
    Subscription,
    Table,
    canonical,
)
from picops.stack.names import StackNames, logical_names, logical_type

ACCOUNT, REGION = "123456789012", "eu-west-1"


def _model(local: bool = False, **sections: dict[str, Any]) -> StackModel:
    return build_model(load_settings(overrides=sections, use_files=False), ACCOUNT, REGION, local=local)


def test_every_design_logical_name_is_modelled_with_its_type() -> None:
    model = _model()
    for logical in logical_names():
        assert logical in model
        assert model.get(logical).type == logical_type(logical)


def test_order_puts_dependencies_first_and_is_deterministic() -> None:
    model = _model()
    order = [r.logical for r in model.ordered()]
    assert order == [r.logical for r in _model().ordered()]
    position = {logical: i for i, logical in enumerate(order)}
    for resource in model:
        for dep in resource.depends_on:
            assert position[dep] < position[resource.logical], (resource.logical, dep)
    assert position["IngestQueuePolicy"] < position["UploadsBucketNotification"]
    assert position["IngestFunction"] < position["IngestFunctionMapping"]


def test_cycles_and_unknown_dependencies_are_rejected() -> None:
    model = _model()
    queue = model.get("IngestQueue")
    dlq = model.get("IngestDLQ")
    assert isinstance(queue, Queue)
    assert isinstance(dlq, Queue)
    looped = dataclasses.replace(dlq, dlq="IngestQueue", dlq_arn="x")
    with pytest.raises(ValueError, match="cycle"):
        StackModel("s", ACCOUNT, REGION, False, (queue, looped)).ordered()
    with pytest.raises(ValueError, match="unknown"):
        StackModel("s", ACCOUNT, REGION, False, (queue,))


def test_functions_use_the_contract_handlers_one_role_each() -> None:
    functions = _model().functions()
    assert {f.logical: f.handler for f in functions} == HANDLERS
    assert len({f.role for f in functions}) == len(functions)
    assert len({f.role_arn for f in functions}) == len(functions)
    for f in functions:
        assert f.alias == "live"
        assert f.role_arn.endswith(":role/" + _model().get(f.role).name)


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_function_environment_rebuilds_every_section_its_handler_reads(
    monkeypatch: pytest.MonkeyPatch, function: str
) -> None:
    settings = load_settings(
        overrides={
            "stack": {"name": "pics"},
            "ingest": {"prefix": "drop/", "suffixes": (".png", ".json"), "batch_size": 7},
            "moderation": {
                "tag_key": "verdict",
                "statuses": ("ok", "bad"),
                "on_remove": "remove",
                "sweep_prefix": "photos/",
                "sweep_margin_s": 42.5,
                "sweep_concurrency": 3,
            },
            "bookings": {"max_receive_count": 9},
        },
        use_files=False,
    )
    model = build_model(settings, ACCOUNT, REGION)
    env = model.get(function).env
    for key in list(os.environ):
        if key.startswith("PICOPS_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    inside = settings_from_env()
    expected = resolved_sections(settings, StackNames(settings, ACCOUNT, REGION))
    assert inside.stack == settings.stack
    for section in FUNCTION_SECTIONS[function]:
        # The whole section, compared as a whole: a setting missing from the environment fails here.
        assert getattr(inside, section) == expected[section], section
    # resolved physical names, not the (unset) configured ones
    if "ingest" in FUNCTION_SECTIONS[function]:
        assert inside.ingest.uploads_bucket == model.get("UploadsBucket").name
        assert inside.ingest.processed_bucket == model.get("ProcessedBucket").name
    if "moderation" in FUNCTION_SECTIONS[function]:
        assert inside.moderation.table_name == model.get("ModerationTable").name
        assert inside.moderation.sweep_margin_s == 42.5


def test_every_function_declares_the_sections_it_reads() -> None:
    assert set(FUNCTION_SECTIONS) == set(HANDLERS)


def test_security_defaults() -> None:
    model = _model()
    for bucket in model.of_type(Bucket):
        desired = bucket.desired()
        assert all(desired["PublicAccessBlock"].values())
        assert desired["SSEAlgorithm"] == "AES256"
    assert model.get("UploadsBucket").desired()["Versioning"] == "Enabled"
    for policy in model.of_type(BucketPolicy):
        denies = [s for s in json.loads(policy.document)["Statement"] if s["Effect"] == "Deny"]
        (statement,) = denies
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    for queue in model.of_type(Queue):
        assert queue.attributes()["SqsManagedSseEnabled"] == "true"
        if queue.consumer:
            function = model.get(queue.consumer)
            assert isinstance(function, FunctionSpec)
            assert queue.visibility_timeout_s >= 6 * function.timeout_s
            assert json.loads(queue.attributes()["RedrivePolicy"])["maxReceiveCount"] == 5
    for logical in ("BookingsTable", "JobsTable"):
        table = model.get(logical)
        assert isinstance(table, Table)
        assert table.desired()["PointInTimeRecovery"] is True
        assert table.desired()["SSEEnabled"] is True


def test_local_model_records_mappings_and_drops_tls_only_policy() -> None:
    local = _model(local=True)
    assert all(m.local for m in local.of_type(EventSourceMapping))
    # Only the access log bucket's policy remains (the logging service's grant): nothing denies plain HTTP.
    assert [p.logical for p in local.of_type(BucketPolicy)] == ["AccessLogsBucketPolicy"]
    for policy in local.of_type(BucketPolicy):
        assert all(s["Effect"] == "Allow" for s in json.loads(policy.document)["Statement"])
    assert not any(m.local for m in _model().of_type(EventSourceMapping))


def test_notifications_one_per_suffix_and_queue_policies_scoped() -> None:
    model = _model(ingest={"prefix": "in/", "suffixes": (".jpg", ".json")})
    notification = model.get("UploadsBucketNotification")
    configs = notification.desired()["QueueConfigurations"]
    assert [(c["Prefix"], c["Suffix"]) for c in configs] == [("in/", ".jpg"), ("in/", ".json")]
    s3_policy = model.get("IngestQueuePolicy")
    assert isinstance(s3_policy, QueuePolicy)
    (statement,) = json.loads(s3_policy.document)["Statement"]
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"] == model.get("UploadsBucket").name.join(
        ["arn:aws:s3:::", ""]
    )
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
    for sub in model.of_type(Subscription):
        assert sub.raw
        policy = model.get(f"{sub.queue}Policy")
        assert isinstance(policy, QueuePolicy)
        (statement,) = json.loads(policy.document)["Statement"]
        assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": sub.topic_arn}}


def test_mappings_and_alarms() -> None:
    model = _model()
    ingest = model.get("IngestFunctionMapping")
    assert isinstance(ingest, EventSourceMapping)
    assert ingest.batch_size == 10
    assert ingest.report_batch_item_failures
    stream = model.get("ModerationStreamFunctionMapping")
    assert isinstance(stream, EventSourceMapping)
    assert stream.bisect_on_error
    assert stream.max_retries is not None
    assert stream.on_failure_arn
    alarms = {a.logical: a for a in model.of_type(Alarm)}
    assert {"IngestDLQAlarm", "InventoryDLQAlarm", "PaymentDLQAlarm", "IngestQueueAgeAlarm"} <= set(alarms)
    assert {f"{fn}ErrorsAlarm" for fn in HANDLERS} <= set(alarms)
    alerts = model.get("AlertsTopic").name
    assert all(a.topic_arn.endswith(":" + alerts) for a in alarms.values())


def test_external_moderation_table_only_requires_key_and_stream() -> None:
    table = _model(moderation={"external": True, "table_name": "vendor"}).get("ModerationTable")
    assert isinstance(table, Table)
    assert table.external
    assert table.name == "vendor"
    assert table.desired() == {"KeySchema": table.key_schema(), "StreamEnabled": True}


def test_canonical_ignores_key_order_and_single_item_lists() -> None:
    a = {"Statement": [{"Action": ["sqs:SendMessage"], "Effect": "Allow"}], "Version": "2012-10-17"}
    b = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage"}]})
    assert canonical(a) == canonical(b)
    assert canonical(a) != canonical({**a, "Version": "2008-10-17"})
