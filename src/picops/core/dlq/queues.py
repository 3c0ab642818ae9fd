"""Resolve a QUEUE argument (name, URL, ARN or stack logical name) and read the facts `dlq` commands need."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import botocore.exceptions

from picops.aws_errors import QUEUE_MISSING, is_access_denied, is_missing
from picops.errors import ResourceMissing, UsageError, input_field
from picops.stack.names import DLQ_SOURCES, StackNames, logical_names, logical_type

QUEUE_FACTS = (
    "QueueArn",
    "FifoQueue",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "RedrivePolicy",
    "VisibilityTimeout",
    "MaximumMessageSize",
)


@dataclass(frozen=True)
class QueueRef:
    """A queue that exists: where to call it, what it is, and its facts at resolution time."""

    name: str
    url: str
    arn: str
    fifo: bool
    attributes: dict[str, str] = field(default_factory=dict, compare=False)
    logical: str | None = None

    @property
    def visible(self) -> int:
        return int(self.attributes.get("ApproximateNumberOfMessages", "0"))

    @property
    def in_flight(self) -> int:
        return int(self.attributes.get("ApproximateNumberOfMessagesNotVisible", "0"))

    @property
    def redrive_policy(self) -> dict[str, Any] | None:
        raw = self.attributes.get("RedrivePolicy")
        if not raw:
            return None
        try:
            policy = json.loads(raw)
        except ValueError:
            return None
        return policy if isinstance(policy, dict) else None

    @property
    def kind(self) -> str:
        return "FIFO" if self.fifo else "standard"


def _is_missing(exc: botocore.exceptions.ClientError) -> bool:
    return is_missing(exc, QUEUE_MISSING)


def _stack_logical(spec: str) -> str | None:
    if spec in logical_names() and logical_type(spec) == "AWS::SQS::Queue":
        return spec
    return None


def queue_url_for(sqs: Any, spec: str, names: StackNames | None = None) -> tuple[str, str | None]:
    """(queue URL, logical name or None) for a name, URL, ARN or logical name; ResourceMissing if none."""
    logical = _stack_logical(spec)
    try:
        if spec.startswith(("http://", "https://")):
            parsed = urlparse(spec)
            if len([p for p in parsed.path.split("/") if p]) != 2:
                raise UsageError(f"{spec!r} is not a queue URL (expected .../ACCOUNT/NAME)")
            return spec, None
        if spec.startswith("arn:"):
            parts = spec.split(":")
            if len(parts) != 6 or parts[2] != "sqs" or not parts[5]:
                raise UsageError(f"{spec!r} is not an SQS queue ARN (arn:PARTITION:sqs:REGION:ACCOUNT:NAME)")
            url = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
            return str(url), None
        if logical is not None:
            if names is None:
                raise UsageError(f"{spec} is a stack logical name, but no stack is configured")
            return str(sqs.get_queue_url(QueueName=names.physical(logical))["QueueUrl"]), logical
        if not spec or "/" in spec:
            raise UsageError(f"{spec!r} is not a queue name, URL, ARN or stack logical name")
        return str(sqs.get_queue_url(QueueName=spec)["QueueUrl"]), None
    except botocore.exceptions.ClientError as exc:
        if _is_missing(exc):
            shown = f"{spec} ({names.physical(logical)})" if logical and names else spec
            raise ResourceMissing(f"queue {shown} does not exist") from None
        raise


# ListQueues and ListDeadLetterSourceQueues stop at 1,000 URLs and return no NextToken unless MaxResults is
# sent: the page size makes the paginator send it, so it can follow every page.
FULL_PAGES = {"PageSize": 1000}


def describe_queue(sqs: Any, url: str, *, spec: str | None = None, logical: str | None = None) -> QueueRef:
    try:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(QUEUE_FACTS))["Attributes"]
    except botocore.exceptions.ClientError as exc:
        if _is_missing(exc):
            raise ResourceMissing(f"queue {spec or url} does not exist") from None
        raise
    arn = str(attrs["QueueArn"])
    return QueueRef(
        name=arn.rsplit(":", 1)[-1],
        url=url,
        arn=arn,
        fifo=str(attrs.get("FifoQueue", "false")).lower() == "true",
        attributes={str(k): str(v) for k, v in attrs.items()},
        logical=logical,
    )


def resolve_queue(sqs: Any, spec: str, names: StackNames | None = None) -> QueueRef:
    """The queue `spec` names (name, URL, ARN, or stack logical name such as IngestDLQ). Exit 3 if missing."""
    spec = spec.strip()
    url, logical = queue_url_for(sqs, spec, names)
    return describe_queue(sqs, url, spec=spec, logical=logical)


def refresh(sqs: Any, queue: QueueRef) -> QueueRef:
    return describe_queue(sqs, queue.url, logical=queue.logical)


def source_queues(sqs: Any, dlq: QueueRef) -> list[QueueRef]:
    """Queues whose redrive policy targets `dlq` (ListDeadLetterSourceQueues, paginated)."""
    urls: list[str] = []
    paginator = sqs.get_paginator("list_dead_letter_source_queues")
    for page in paginator.paginate(QueueUrl=dlq.url, PaginationConfig=FULL_PAGES):
        urls.extend(str(u) for u in page.get("queueUrls", []))
    return [describe_queue(sqs, url) for url in urls]


def check_same_kind(dlq: QueueRef, destination: QueueRef) -> None:
    """A FIFO DLQ redrives only into FIFO queues and a standard one only into standard queues (exit 2)."""
    if dlq.fifo != destination.fifo:
        raise UsageError(
            f"{dlq.name} is a {dlq.kind} queue but {destination.name} is a {destination.kind} queue: "
            "messages can only move between queues of the same type (FIFO group and deduplication ids "
            "have no place in a standard queue, and a FIFO queue requires them)",
            hint=f"pick a destination of the same type with {input_field('to')}",
        )


@dataclass(frozen=True)
class SourceInfo:
    name: str
    arn: str
    url: str
    max_receive_count: int | None


@dataclass(frozen=True)
class DlqInfo:
    """One row of `dlq list`."""

    name: str
    url: str
    arn: str
    fifo: bool
    visible: int
    in_flight: int
    oldest_age_s: float | None
    sources: list[SourceInfo]
    logical: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "logical": self.logical,
            "url": self.url,
            "arn": self.arn,
            "fifo": self.fifo,
            "visible": self.visible,
            "in_flight": self.in_flight,
            "oldest_age_s": self.oldest_age_s,
            "sources": [
                {"name": s.name, "arn": s.arn, "url": s.url, "max_receive_count": s.max_receive_count}
                for s in self.sources
            ],
        }


def oldest_age_s(cloudwatch: Any, queue_name: str, *, now: datetime | None = None) -> float | None:
    """ApproximateAgeOfOldestMessage from CloudWatch (the only way to know it without receiving, which would
    bump receive counts). None when there is no datapoint (new queue, or an endpoint without metrics)."""
    end = now or datetime.now(tz=UTC)
    try:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/SQS",
            MetricName="ApproximateAgeOfOldestMessage",
            Dimensions=[{"Name": "QueueName", "Value": queue_name}],
            StartTime=end - timedelta(minutes=15),
            EndTime=end,
            Period=60,
            Statistics=["Maximum"],
        ).get("Datapoints", [])
    except botocore.exceptions.ClientError:
        return None
    if not points:
        return None
    latest = max(points, key=lambda p: p["Timestamp"])
    return float(latest["Maximum"])


def _source_info(source: QueueRef) -> SourceInfo:
    policy = source.redrive_policy or {}
    count = policy.get("maxReceiveCount")
    return SourceInfo(
        name=source.name,
        arn=source.arn,
        url=source.url,
        max_receive_count=int(count) if count is not None else None,
    )


def dlq_info(sqs: Any, cloudwatch: Any | None, dlq: QueueRef) -> DlqInfo:
    sources = [_source_info(s) for s in source_queues(sqs, dlq)]
    return DlqInfo(
        name=dlq.name,
        url=dlq.url,
        arn=dlq.arn,
        fifo=dlq.fifo,
        visible=dlq.visible,
        in_flight=dlq.in_flight,
        oldest_age_s=oldest_age_s(cloudwatch, dlq.name) if cloudwatch is not None else None,
        sources=sources,
        logical=dlq.logical,
    )


def stack_dlqs(sqs: Any, names: StackNames) -> tuple[list[QueueRef], list[str]]:
    """The stack's DLQs that exist, and the logical names of those that do not."""
    found: list[QueueRef] = []
    missing: list[str] = []
    for logical in DLQ_SOURCES:
        try:
            found.append(resolve_queue(sqs, logical, names))
        except ResourceMissing:
            missing.append(logical)
    return found, missing


def region_dlqs(sqs: Any, unreadable: list[str] | None = None) -> list[QueueRef]:
    """Every queue in the region that some queue's redrive policy names as its DLQ. A queue the caller
    may not read (AccessDenied: another team's, outside the stack's policy) is skipped and its URL added
    to `unreadable` when a list is given; without one, the refusal is raised."""
    urls: list[str] = []
    for page in sqs.get_paginator("list_queues").paginate(PaginationConfig=FULL_PAGES):
        urls.extend(str(u) for u in page.get("QueueUrls", []))
    by_arn: dict[str, QueueRef] = {}
    targets: set[str] = set()
    for url in urls:
        try:
            queue = describe_queue(sqs, url)
        except ResourceMissing:
            continue  # deleted between list and describe
        except botocore.exceptions.ClientError as exc:
            if unreadable is None or not is_access_denied(exc):
                raise
            unreadable.append(url)
            continue
        by_arn[queue.arn] = queue
        policy = queue.redrive_policy
        if policy and policy.get("deadLetterTargetArn"):
            targets.add(str(policy["deadLetterTargetArn"]))
    return [by_arn[arn] for arn in sorted(targets) if arn in by_arn]
