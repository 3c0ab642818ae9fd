"""`picops events generate` kinds against recorded AWS samples (tests/events): every key AWS sends is present,
with the same JSON type, and the values are the stack's real names."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any
from urllib.parse import unquote_plus

import pytest

from picops.config import Settings
from picops.errors import ResourceMissing, UsageError
from picops.local import event_kinds as ek
from picops.stack.build import build_model
from picops.stack.names import StackNames
from tests.conftest import load_event

ACCOUNT = "123456789012"
REGION = "us-east-1"
# Maps whose keys are data (attribute names, headers, parameters), not part of the event's shape.
DATA_MAPS = frozenset(
    {
        "Keys",
        "NewImage",
        "OldImage",
        "headers",
        "queryStringParameters",
        "pathParameters",
        "messageAttributes",
        "userArguments",
    }
)


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def assert_shape(sample: Any, built: Any, where: str = "$") -> None:
    """Every key of `sample` is in `built` with the same JSON type (recursively; lists by first item).
    A null in the sample (an optional value) accepts null or a string. JSON text in an SQS body is
    compared as JSON."""
    if sample is None:
        assert built is None or isinstance(built, str), f"{where}: {built!r} is neither null nor a string"
        return
    assert _type(built) == _type(sample), f"{where}: {_type(built)} where AWS sends {_type(sample)}"
    if isinstance(sample, dict):
        for key, value in sample.items():
            assert key in built, f"{where}: key {key!r} missing (AWS sends it)"
            if key in DATA_MAPS:
                assert isinstance(built[key], dict), f"{where}.{key}: not an object"
                continue
            if key == "body" and isinstance(value, str) and value.startswith("{"):
                assert_shape(json.loads(value), json.loads(built[key]), f"{where}.body")
                continue
            assert_shape(value, built[key], f"{where}.{key}")
    elif isinstance(sample, list) and sample:
        assert built, f"{where}: empty list where AWS sends items"
        assert_shape(sample[0], built[0], f"{where}[0]")


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def gen(settings: Settings) -> ek.EventGenerator:
    return ek.EventGenerator(build_model(settings, ACCOUNT, REGION), settings)


@pytest.fixture
def names(settings: Settings) -> StackNames:
    return StackNames(settings, ACCOUNT, REGION)


NOW = dt.datetime(2026, 11, 22, 15, 0, 0, 123000, tzinfo=dt.UTC)


def test_shape_checker_catches_a_missing_key_and_a_wrong_type() -> None:
    with pytest.raises(AssertionError, match="missing"):
        assert_shape({"a": {"b": 1}}, {"a": {}})
    with pytest.raises(AssertionError, match="number"):
        assert_shape({"a": 1}, {"a": "1"})


def test_s3_put_matches_aws_and_encodes_the_key_as_s3_does(gen: ek.EventGenerator, names: StackNames) -> None:
    key = "incoming/red flower+ünï.jpg"
    event = gen.generate(ek.S3_PUT, ek.EventOptions(key=key, size=42, now=NOW))
    assert_shape(load_event("s3_put.json"), event)
    record = event["Records"][0]
    assert record["awsRegion"] == REGION
    assert record["eventTime"] == "2026-11-22T15:00:00.123Z"
    obj = record["s3"]["object"]
    assert obj["key"] == "incoming/red+flower%2B%C3%BCn%C3%AF.jpg"
    assert unquote_plus(obj["key"]) == key
    assert obj["size"] == 42
    assert "versionId" not in obj  # an unversioned bucket's notification has none
    assert record["s3"]["bucket"]["name"] == names.uploads_bucket
    assert record["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{names.uploads_bucket}"
    # The configuration id is the stack's notification for this suffix.
    assert record["s3"]["configurationId"] == "picops-ingest-jpg"


def test_s3_put_with_a_version(gen: ek.EventGenerator) -> None:
    event = gen.generate(ek.S3_PUT, ek.EventOptions(version="3HL4kqtJlcpXroDTDmJ"))
    assert event["Records"][0]["s3"]["object"]["versionId"] == "3HL4kqtJlcpXroDTDmJ"


def test_sqs_s3_is_the_notification_inside_an_ingest_queue_record(
    gen: ek.EventGenerator, names: StackNames
) -> None:
    event = gen.generate(ek.SQS_S3, ek.EventOptions(key="incoming/a b.png", version="v1", now=NOW))
    assert_shape(load_event("sqs_s3.json"), event)
    record = event["Records"][0]
    assert record["eventSourceARN"] == names.arn("IngestQueue")
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
    inner = json.loads(record["body"])["Records"][0]
    assert inner["s3"]["object"]["key"] == "incoming/a+b.png"
    assert inner["s3"]["object"]["versionId"] == "v1"


def test_s3_test_event_inside_an_sqs_record(gen: ek.EventGenerator, names: StackNames) -> None:
    event = gen.generate(ek.S3_TEST_EVENT)
    assert_shape(load_event("sqs_s3_test_event.json"), event)
    body = json.loads(event["Records"][0]["body"])
    assert body["Event"] == "s3:TestEvent"
    assert body["Bucket"] == names.uploads_bucket


@pytest.mark.parametrize("name", ["INSERT", "MODIFY", "REMOVE"])
def test_ddb_stream_matches_aws_for_each_event_name(
    gen: ek.EventGenerator, names: StackNames, name: str
) -> None:
    sample = next(
        r for r in load_event("dynamodb_stream_moderation.json")["Records"] if r["eventName"] == name
    )
    event = gen.generate(
        ek.DDB_STREAM, ek.EventOptions(key="incoming/x.jpg", status="rejected", event_name=name)
    )
    (record,) = event["Records"]
    assert_shape(sample, record)
    stream = record["dynamodb"]
    assert stream["Keys"] == {"object_key": {"S": "incoming/x.jpg"}}
    assert ("NewImage" in stream) == (name != "REMOVE")
    assert ("OldImage" in stream) == (name != "INSERT")
    if name != "REMOVE":
        assert stream["NewImage"]["status"] == {"S": "rejected"}
    assert record["eventSourceARN"].startswith(names.arn("ModerationTable") + "/stream/")
    assert stream["SequenceNumber"].isdigit()


def test_ddb_stream_uses_the_configured_key_attribute() -> None:
    settings = Settings(moderation={"key_attribute": "photo", "status_attribute": "verdict"})  # type: ignore[arg-type]
    gen = ek.EventGenerator(build_model(settings, ACCOUNT, REGION), settings)
    stream = gen.generate(ek.DDB_STREAM, ek.EventOptions(key="k"))["Records"][0]["dynamodb"]
    assert stream["Keys"] == {"photo": {"S": "k"}}
    assert set(stream["NewImage"]) == {"photo", "verdict"}


def test_schedule_matches_aws(gen: ek.EventGenerator, names: StackNames) -> None:
    event = gen.generate(ek.SCHEDULE, ek.EventOptions(now=NOW))
    assert_shape(load_event("eventbridge_scheduled.json"), event)
    assert event["resources"] == [names.arn("SweepSchedule")]
    assert event["time"] == "2026-11-22T15:00:00Z"


@pytest.mark.parametrize("schema", ["1.0", "2.0"])
def test_s3_batch_matches_aws_for_each_schema(gen: ek.EventGenerator, names: StackNames, schema: str) -> None:
    sample = load_event(f"s3_batch_operations_{schema.replace('.', '_')}.json")
    event = gen.generate(ek.S3_BATCH, ek.EventOptions(schema=schema, key="incoming/a b+c.jpg"))
    assert_shape(sample, event)
    (task,) = event["tasks"]
    assert task["s3Key"] == "incoming/a+b%2Bc.jpg"
    if schema == "1.0":
        assert task["s3BucketArn"] == f"arn:aws:s3:::{names.uploads_bucket}"
        assert "s3Bucket" not in task
    else:
        assert task["s3Bucket"] == names.uploads_bucket
        assert "s3BucketArn" not in task


def test_s3_batch_rejects_an_unknown_schema(gen: ek.EventGenerator) -> None:
    with pytest.raises(UsageError, match=re.escape("1.0, 2.0")):
        gen.generate(ek.S3_BATCH, ek.EventOptions(schema="3.0"))


def test_apigw_http_post_matches_aws(gen: ek.EventGenerator) -> None:
    event = gen.generate(
        ek.APIGW_HTTP, ek.EventOptions(method="POST", path="/bookings", body='{"seats": ["1A"]}')
    )
    assert_shape(load_event("apigw_http_v2.json"), event)
    assert event["routeKey"] == "POST /bookings"
    assert event["requestContext"]["accountId"] == ACCOUNT
    assert event["headers"]["content-length"] == str(len('{"seats": ["1A"]}'))
    assert "pathParameters" not in event
    assert "queryStringParameters" not in event


def test_apigw_http_get_fills_path_and_query_parameters(gen: ek.EventGenerator) -> None:
    event = gen.generate(
        ek.APIGW_HTTP, ek.EventOptions(method="get", path="/bookings/b-9?verbose=true&x=1&x=2")
    )
    assert_shape(load_event("apigw_http_v2_get.json"), event)
    assert event["routeKey"] == "GET /bookings/{id}"
    assert event["pathParameters"] == {"id": "b-9"}
    assert event["queryStringParameters"] == {"verbose": "true", "x": "1,2"}
    assert event["rawQueryString"] == "verbose=true&x=1&x=2"
    assert "body" not in event


def test_apigw_http_refuses_a_path_no_route_serves(gen: ek.EventGenerator) -> None:
    with pytest.raises(UsageError, match=re.escape("GET /bookings/{id}")):
        gen.generate(ek.APIGW_HTTP, ek.EventOptions(method="DELETE", path="/bookings/1"))


def test_sqs_fifo_matches_aws(gen: ek.EventGenerator, names: StackNames) -> None:
    event = gen.generate(ek.SQS_FIFO, ek.EventOptions(group="booking-7", body='{"seat": "1A"}'))
    assert_shape(load_event("sqs_fifo.json"), event)
    record = event["Records"][0]
    assert record["eventSourceARN"] == names.arn("InventoryQueue")
    assert record["attributes"]["MessageGroupId"] == "booking-7"
    assert record["attributes"]["MessageDeduplicationId"] == hashlib.sha256(b'{"seat": "1A"}').hexdigest()
    other = gen.generate(ek.SQS_FIFO, ek.EventOptions(queue="PaymentQueue"))
    assert other["Records"][0]["eventSourceARN"] == names.arn("PaymentQueue")


def test_unknown_kind_and_queue_are_usage_errors(gen: ek.EventGenerator) -> None:
    with pytest.raises(UsageError, match="s3-put"):
        gen.generate("kinesis")
    with pytest.raises(UsageError, match="InventoryQueue"):
        gen.generate(ek.SQS_FIFO, ek.EventOptions(queue="NoSuchQueue"))


@pytest.mark.parametrize(
    ("function", "kind"),
    [
        ("IngestFunction", ek.SQS_S3),
        ("ModerationStreamFunction", ek.DDB_STREAM),
        ("ModerationSweepFunction", ek.SCHEDULE),
        ("BookingApiFunction", ek.APIGW_HTTP),
        ("InventoryFunction", ek.SQS_FIFO),
        ("PaymentFunction", ek.SQS_FIFO),
    ],
)
def test_default_event_follows_the_functions_trigger_in_the_model(
    gen: ek.EventGenerator, names: StackNames, function: str, kind: str
) -> None:
    got_kind, event = gen.default_event(function)
    assert got_kind == kind
    if kind in (ek.SQS_S3, ek.SQS_FIFO):
        source = {"IngestFunction": "IngestQueue", "InventoryFunction": "InventoryQueue"}.get(
            function, "PaymentQueue"
        )
        assert event["Records"][0]["eventSourceARN"] == names.arn(source)


# Functions the default stack leaves without a trigger: DlqRedriveFunction runs only on the schedules
# `[dlq.<Logical>] auto_redrive_every` adds.
UNTRIGGERED_BY_DEFAULT = {"DlqRedriveFunction"}


def test_every_function_of_the_model_has_a_default_event(gen: ek.EventGenerator) -> None:
    for spec in gen.model.functions():
        if spec.logical in UNTRIGGERED_BY_DEFAULT:
            with pytest.raises(UsageError, match="has no trigger in the stack model"):
                gen.default_event(spec.logical)
            continue
        kind, _event = gen.default_event(spec.logical)
        assert kind in ek.KINDS


def test_a_scheduled_function_gets_its_own_rule_s_event() -> None:
    settings = Settings.model_validate({"dlq": {"PaymentDLQ": {"auto_redrive_every": "5m"}}})
    model = build_model(settings, ACCOUNT, REGION, local=True)
    names = StackNames(settings, ACCOUNT, REGION)
    generator = ek.EventGenerator(model, settings)
    kind, event = generator.default_event("DlqRedriveFunction")
    assert kind == ek.SCHEDULE
    assert (event["dlq"], event["source"]) == ("PaymentDLQ", "PaymentQueue")
    _kind, outbox = generator.default_event("OutboxSweepFunction")
    assert outbox["resources"] == [names.arn("OutboxSchedule")]


def test_find_function_by_logical_or_physical_name(gen: ek.EventGenerator, names: StackNames) -> None:
    assert ek.find_function(gen.model, "IngestFunction").name == names.physical("IngestFunction")
    assert ek.find_function(gen.model, names.physical("PaymentFunction")).logical == "PaymentFunction"
    with pytest.raises(ResourceMissing, match="NopeFunction"):
        ek.find_function(gen.model, "NopeFunction")
