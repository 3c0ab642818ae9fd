"""Derived outputs follow their original: ObjectRemoved events through the ingest handler, against moto
(docs/ingest.md, "Deletions")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from picops.core.ingest.events import sequencer_after
from tests import ingest_support as ins


def removal_event(
    stack: ins.IngestStack,
    key: str,
    version: str | None,
    *,
    marker: bool = False,
    sequencer: str = "0062E99A88DC4074FF",
) -> dict[str, Any]:
    """One SQS message holding an S3 ObjectRemoved record, shaped as S3 sends it (no size or ETag)."""
    (record,) = ins.s3_records([{"key": key, "version": version, "etag": "", "size": 0}], stack.uploads)
    record["eventName"] = "ObjectRemoved:DeleteMarkerCreated" if marker else "ObjectRemoved:Delete"
    obj = record["s3"]["object"]
    obj.pop("size"), obj.pop("eTag")
    obj["sequencer"] = sequencer
    return ins.sqs_event([{"Records": [record]}])


def created_event(stack: ins.IngestStack, obj: dict[str, Any], sequencer: str) -> dict[str, Any]:
    (record,) = ins.s3_records([obj], stack.uploads)
    record["s3"]["object"]["sequencer"] = sequencer
    return ins.sqs_event([{"Records": [record]}])


def _keys(aws: Any, bucket: str) -> list[str]:
    listed = aws.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
    return sorted(o["Key"] for o in listed)


def _statuses(aws: Any, stack: ins.IngestStack, key: str) -> dict[str | None, str]:
    return {j["version"]: j["status"] for j in ins.job_items(aws, stack, key)}


def test_deleting_a_version_removes_its_thumbnail_and_marks_the_job_deleted_idempotently(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    key = "incoming/beach day.jpg"
    photo = ins.put(aws, stack, key, ins.jpeg())
    assert ingest.handler(ins.event_for([photo], stack), ins.FakeContext()) == {"batchItemFailures": []}
    assert _keys(aws, stack.processed) == [f"thumbnails/{key}.jpg"]

    aws.client("s3").delete_object(Bucket=stack.uploads, Key=key, VersionId=photo["version"])
    event = removal_event(stack, key, photo["version"])
    assert ingest.handler(event, ins.FakeContext()) == {"batchItemFailures": []}
    assert _keys(aws, stack.processed) == []
    assert _statuses(aws, stack, key) == {photo["version"]: "DELETED"}
    # A redelivered removal finds nothing more to do and does not fail.
    assert ingest.handler(event, ins.FakeContext()) == {"batchItemFailures": []}
    assert _statuses(aws, stack, key) == {photo["version"]: "DELETED"}


def test_a_delete_marker_removes_the_renditions_of_the_version_it_hides(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    key = "incoming/hidden.jpg"
    photo = ins.put(aws, stack, key, ins.jpeg())
    ingest.handler(ins.event_for([photo], stack), ins.FakeContext())
    marker = aws.client("s3").delete_object(Bucket=stack.uploads, Key=key)["VersionId"]
    response = ingest.handler(removal_event(stack, key, marker, marker=True), ins.FakeContext())
    assert response == {"batchItemFailures": []}
    assert _keys(aws, stack.processed) == []
    assert _statuses(aws, stack, key) == {photo["version"]: "DELETED"}


def test_removing_an_older_version_keeps_the_thumbnail_the_current_version_made(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    key = "incoming/edited.jpg"
    first = ins.put(aws, stack, key, ins.jpeg(600, 400))
    ingest.handler(ins.event_for([first], stack), ins.FakeContext())
    second = ins.put(aws, stack, key, ins.jpeg(400, 600))
    ingest.handler(ins.event_for([second], stack), ins.FakeContext())
    aws.client("s3").delete_object(Bucket=stack.uploads, Key=key, VersionId=first["version"])
    ingest.handler(removal_event(stack, key, first["version"]), ins.FakeContext())
    thumb = aws.client("s3").head_object(Bucket=stack.processed, Key=f"thumbnails/{key}.jpg")
    assert thumb["Metadata"]["picops-source-version"] == second["version"]
    assert _statuses(aws, stack, key) == {first["version"]: "DELETED", second["version"]: "PROCESSED"}


def test_a_late_creation_of_a_removed_version_is_skipped_not_retried_or_rendered(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    key = "incoming/late.jpg"
    photo = ins.put(aws, stack, key, ins.jpeg())
    removal = removal_event(stack, key, photo["version"], sequencer="0062E99A88DC407420")
    assert ingest.handler(removal, ins.FakeContext()) == {"batchItemFailures": []}
    late = created_event(stack, photo, "0062E99A88DC407410")
    assert ingest.handler(late, ins.FakeContext()) == {"batchItemFailures": []}
    assert _keys(aws, stack.processed) == []
    assert _statuses(aws, stack, key) == {photo["version"]: "DELETED"}
    assert ins.notifications(aws, stack) == []


def test_a_creation_ordered_after_the_removal_is_ingested(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    # Same version label, a later sequencer: what an unversioned key uploaded again after its deletion sends.
    key = "incoming/again.jpg"
    photo = ins.put(aws, stack, key, ins.jpeg())
    ingest.handler(
        removal_event(stack, key, photo["version"], sequencer="0062E99A88DC4074"), ins.FakeContext()
    )
    later = created_event(stack, photo, "0062E99A88DC407401")  # longer: padded, it compares later
    assert ingest.handler(later, ins.FakeContext()) == {"batchItemFailures": []}
    assert _keys(aws, stack.processed) == [f"thumbnails/{key}.jpg"]
    assert _statuses(aws, stack, key) == {photo["version"]: "PROCESSED"}


def test_a_removal_while_the_version_is_claimed_is_retried(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    from picops.core.ingest.events import ObjectRef
    from picops.core.ingest.jobs import JobStore

    key = "incoming/busy.jpg"
    photo = ins.put(aws, stack, key, ins.jpeg())
    ref = ObjectRef(stack.uploads, key, version_id=photo["version"], etag=photo["etag"])
    assert JobStore(aws.client("dynamodb"), stack.table).claim(ref, "image", lease_s=600).acquired
    event = removal_event(stack, key, photo["version"])
    response = ingest.handler(event, ins.FakeContext())
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [event["Records"][0]["messageId"]]
    assert _statuses(aws, stack, key) == {photo["version"]: "IN_PROGRESS"}


def test_a_deleted_drop_removes_its_records_but_not_a_later_drops_record_with_the_same_id(
    ingest: Any, aws: Any, stack: ins.IngestStack
) -> None:
    first = ins.put(aws, stack, "incoming/a.json", json.dumps([{"id": "x"}, {"id": "y"}]).encode())
    ingest.handler(ins.event_for([first], stack), ins.FakeContext())
    other = ins.put(aws, stack, "incoming/b.json", json.dumps({"id": "y", "v": 2}).encode())
    ingest.handler(ins.event_for([other], stack), ins.FakeContext())
    aws.client("s3").delete_object(Bucket=stack.uploads, Key=first["key"], VersionId=first["version"])
    ingest.handler(removal_event(stack, first["key"], first["version"]), ins.FakeContext())
    table = aws.client("dynamodb")
    x = table.get_item(TableName=stack.table, Key={"pk": {"S": "x"}, "sk": {"S": "RECORD"}}).get("Item")
    y = table.get_item(TableName=stack.table, Key={"pk": {"S": "y"}, "sk": {"S": "RECORD"}})["Item"]
    assert x is None
    assert y["v"] == {"N": "2"}


@pytest.mark.parametrize(
    ("a", "b", "later"),
    [
        ("0062E99A88DC407401", "0062E99A88DC4074", True),
        ("0A", "09", True),
        ("09", "0A", False),
        ("1", "10", False),
    ],
)
def test_sequencers_compare_after_right_padding(a: str, b: str, later: bool) -> None:
    assert sequencer_after(a, b) is later


def test_a_rendition_rewritten_between_the_read_and_the_delete_is_kept() -> None:
    import boto3
    from botocore.stub import Stubber

    from picops.core.ingest.pipeline import IngestConfig
    from picops.core.ingest.removal import Removal

    s3 = boto3.client("s3", region_name=ins.REGION, aws_access_key_id="x", aws_secret_access_key="x")
    config = IngestConfig("up", "processed", "jobs", "arn:aws:sns:us-east-1:123456789012:t")
    removal = Removal(s3=s3, dynamodb=None, config=config)
    key = "thumbnails/incoming/a.jpg"
    with Stubber(s3) as stub:
        head = {"ETag": '"v1etag"', "Metadata": {"picops-source-version": "v1"}}
        stub.add_response("head_object", head, {"Bucket": "processed", "Key": key})
        stub.add_client_error(
            "delete_object",
            "PreconditionFailed",
            http_status_code=412,
            expected_params={"Bucket": "processed", "Key": key, "IfMatch": '"v1etag"'},
        )
        assert removal._delete_rendition(key, "v1") is False
        stub.assert_no_pending_responses()
