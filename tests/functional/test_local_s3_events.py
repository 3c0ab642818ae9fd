"""The local endpoint's S3 notifications carry `versionId` (versioned buckets) and an increasing `sequencer`,
as AWS's do, so the ingest handler's job keys locally are AWS's (docs/local.md, docs/ingest.md)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from picops.aws import ClientFactory
from picops.config import AwsSettings
from picops.core.ingest.events import parse_body


@pytest.fixture
def local_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[ClientFactory]:
    """`picops.local.server.serve` on a free port, as `picops local up` runs it."""
    from moto.s3 import notifications

    from picops.local.endpoint import free_port
    from picops.local.server import serve

    # serve() completes moto's record builder for the process; put the original back afterwards.
    monkeypatch.setattr(notifications, "_get_s3_event", notifications._get_s3_event)
    stop, ready = threading.Event(), threading.Event()
    urls: list[str] = []

    def on_ready(url: str) -> None:
        urls.append(url)
        ready.set()

    thread = threading.Thread(target=serve, args=(free_port(), stop, on_ready), daemon=True)
    thread.start()
    assert ready.wait(30)
    yield ClientFactory(AwsSettings(region="us-east-1", endpoint_url=urls[0]))
    stop.set()
    thread.join(10)


def _bucket_notifying(factory: ClientFactory, bucket: str, *, versioned: bool) -> str:
    s3, sqs = factory.client("s3"), factory.client("sqs")
    s3.create_bucket(Bucket=bucket)
    if versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    url = sqs.create_queue(QueueName=f"{bucket}-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"Id": "ingest", "QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    sqs.purge_queue(QueueUrl=url)  # the s3:TestEvent
    return url


def _records(factory: ClientFactory, url: str) -> list[dict[str, Any]]:
    sqs = factory.client("sqs")
    records: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in messages:
            records += json.loads(m["Body"]).get("Records", [])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return records


def test_each_version_of_an_overwritten_key_is_notified_with_its_version_id(
    local_endpoint: ClientFactory,
) -> None:
    url = _bucket_notifying(local_endpoint, "versioned-uploads", versioned=True)
    s3 = local_endpoint.client("s3")
    # Identical bytes twice: only the version id tells the two notifications apart.
    versions = [
        s3.put_object(Bucket="versioned-uploads", Key="incoming/same name.jpg", Body=b"same")["VersionId"]
        for _ in range(2)
    ]
    records = _records(local_endpoint, url)
    assert [r["s3"]["object"]["versionId"] for r in records] == versions
    sequencers = [r["s3"]["object"]["sequencer"] for r in records]
    assert all(len(s) == 18 and int(s, 16) for s in sequencers)
    assert sequencers == sorted(sequencers)
    assert len(set(sequencers)) == 2
    refs = [ref for r in records for ref in parse_body(json.dumps({"Records": [r]})).refs]
    assert [(ref.key, ref.version_label) for ref in refs] == [("incoming/same name.jpg", v) for v in versions]
    assert {"userIdentity", "requestParameters", "responseElements"} <= set(records[0])


def test_an_unversioned_bucket_s_notifications_carry_no_version_id(local_endpoint: ClientFactory) -> None:
    url = _bucket_notifying(local_endpoint, "plain-uploads", versioned=False)
    etag = local_endpoint.client("s3").put_object(Bucket="plain-uploads", Key="incoming/a.jpg", Body=b"a")[
        "ETag"
    ]
    (record,) = _records(local_endpoint, url)
    assert "versionId" not in record["s3"]["object"]
    assert record["s3"]["object"]["eTag"] == etag.strip('"')
    assert record["s3"]["object"]["sequencer"]
