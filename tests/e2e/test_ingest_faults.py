"""Ingest under faults: uploads through `picops local run --until-idle --faults ... --seed 7` (docs/local.md).

The runtime duplicates, crashes (after the handler's writes, before the ack) and throttles IngestQueue's
batches; afterwards the jobs table holds exactly one job per object version, each processed and notified,
and a queue subscribed to NotifyTopic received exactly one notification per object version.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest

from picops.config import Settings
from picops.core.ingest import JobStore
from picops.stack.names import StackNames
from tests import ingest_support as ins

pytestmark = pytest.mark.e2e

FAULTS = "duplicate=0.1,crash=0.05,throttle=0.05"
KEYS = 24
TWICE = 8  # keys uploaded a second time: a new version, its own job and notification


def _tap(factory: Any, names: StackNames) -> ins.IngestStack:
    sqs = factory.client("sqs")
    url = sqs.create_queue(QueueName=f"tap-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    factory.client("sns").subscribe(
        TopicArn=names.arn("NotifyTopic"),
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return ins.IngestStack(None, "", "", "", "", url)  # type: ignore[arg-type]


def test_every_object_version_gets_one_job_and_one_notification_under_faults(
    cli: Any, endpoint: str, server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small batches: enough of them for the seeded faults to land (the nth batch meets the same faults).
    monkeypatch.setenv("PICOPS_INGEST__BATCH_SIZE", "1")
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    names = StackNames(Settings(), server_factory.account_id(), server_factory.region)
    tap = _tap(server_factory, names)
    s3 = server_factory.client("s3")
    versions: set[tuple[str, str]] = set()
    for i in [*range(KEYS), *range(TWICE)]:
        key = f"incoming/faults/p{i:02d}.jpg"
        put = s3.put_object(Bucket=names.uploads_bucket, Key=key, Body=ins.jpeg(64 + i, 48))
        versions.add((key, put["VersionId"]))

    run = cli("local", "run", "--until-idle", "--faults", FAULTS, "--seed", "7", "--json", endpoint=endpoint)
    assert run.exit_code == 0, run.stderr
    summary = run.json()
    c = summary["concurrency"]
    assert c["crashes"] > 0, c  # writes happened and the batch came back anyway
    assert c["duplicates"] > 0, c
    assert c["throttles"] > 0, c
    assert c["retries"] > 0, c

    store = JobStore(server_factory.client("dynamodb"), names.physical("JobsTable"))
    jobs = [j for key in sorted({k for k, _ in versions}) for j in store.jobs_for(names.uploads_bucket, key)]
    assert sorted((j.key, j.version) for j in jobs) == sorted(versions)  # one job per version, no more
    assert {j.status for j in jobs} == {"PROCESSED"}
    assert all(j.notified for j in jobs)
    notes = Counter((n["body"]["key"], n["body"]["version"]) for n in ins.notifications(server_factory, tap))
    assert notes == Counter(dict.fromkeys(versions, 1))


def test_the_demo_ingest_step_holds_its_checks_under_faults(
    cli: Any, endpoint: str, server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from picops.cli.demo_steps import DemoContext
    from picops.cli.demo_steps import ingest as step
    from picops.cli.output import Output
    from picops.config import AwsSettings
    from picops.local.faults import parse_faults

    monkeypatch.setenv("PICOPS_INGEST__BATCH_SIZE", "1")
    assert cli("provision", "--yes", "--json", endpoint=endpoint).exit_code == 0
    ctx = DemoContext(
        settings=Settings(aws=AwsSettings(region="us-east-1", endpoint_url=endpoint)),
        factory=server_factory,
        out=Output(),
        faults=parse_faults(FAULTS, seed=7),
    )
    result = step.run(ctx)
    # One job and one notification per upload (the step's own checks), though batches were faulted.
    assert result.ok, result.detail
    faults = result.data["runtime"]["faults"]
    assert faults["seed"] == 7
    assert sum(faults.get(name, 0) for name in ("duplicate", "crash", "throttle")) > 0, faults
