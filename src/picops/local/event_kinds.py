"""Events of every kind a picops function receives, in AWS's exact shapes, filled with the stack's real names.

`picops events generate KIND` prints them and `picops invoke FUNCTION` uses them as the default event (the
kind is found from the function's trigger in the stack model, so a new handler needs no change here). Pure
functions of the stack model and settings: no AWS calls.

Kinds (the shapes are checked against recorded AWS samples under tests/events/):
- `s3-put`: an S3 event notification (ObjectCreated:Put); the key URL-encoded as S3 does (space as `+`).
- `sqs-s3`: that notification inside an SQS record of the queue the bucket notifies (IngestFunction's event).
- `s3-test-event`: the `s3:TestEvent` S3 sends when a notification is configured, inside an SQS record (S3
  sends test events to queues and topics only, so a function only ever sees it through its queue).
- `ddb-stream`: a DynamoDB stream record (INSERT/MODIFY/REMOVE) of ModerationTable with its key attribute.
- `schedule`: the EventBridge "Scheduled Event" of a schedule rule.
- `s3-batch`: an S3 Batch Operations LambdaInvoke event, schema 1.0 or 2.0 (keys URL-encoded).
- `apigw-http`: an API Gateway HTTP API payload 2.0 event for one of the API's routes.
- `sqs-fifo`: a record of a FIFO queue (message group, deduplication id, sequence number).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlsplit

from picops.config import Settings
from picops.errors import ResourceMissing, UsageError
from picops.local.events import scheduled_event
from picops.stack.model import (
    ApiIntegration,
    ApiRoute,
    BucketNotification,
    EventSourceMapping,
    FunctionSpec,
    HttpApi,
    Queue,
    ScheduleRule,
    StackModel,
    Table,
)
from picops.stack.names import StackNames, partition_of

S3_PUT = "s3-put"
SQS_S3 = "sqs-s3"
S3_TEST_EVENT = "s3-test-event"
DDB_STREAM = "ddb-stream"
SCHEDULE = "schedule"
S3_BATCH = "s3-batch"
APIGW_HTTP = "apigw-http"
SQS_FIFO = "sqs-fifo"
KINDS: tuple[str, ...] = (S3_PUT, SQS_S3, S3_TEST_EVENT, DDB_STREAM, SCHEDULE, S3_BATCH, APIGW_HTTP, SQS_FIFO)
STREAM_EVENT_NAMES = ("INSERT", "MODIFY", "REMOVE")
BATCH_SCHEMAS = ("1.0", "2.0")

# Principal ids S3 and SQS put in their records (AWS's documented example values).
_S3_PRINCIPAL = "AWS:AIDAINPONIXQXHT3IKHL2"
_S3_OWNER = "A3I5XTEXAMAI3E"
_S3_SENDER_ID = "AIDAJHIPRHEMV73VRJEBU"
_SNS_SENDER_ID = "AIDAIT2UOQQY3AUEKVGXU"


@dataclass(frozen=True)
class EventOptions:
    """What a user may set on a generated event; None means "from the stack"."""

    bucket: str | None = None
    key: str | None = None
    size: int = 1024
    version: str | None = None
    status: str | None = None
    event_name: str = "INSERT"
    schema: str = "2.0"
    method: str = "POST"
    path: str = "/bookings"
    body: str | None = None
    group: str = "default"
    queue: str | None = None
    now: dt.datetime | None = None
    # The schedule rule whose event it is (default: the stack's first).
    rule: str | None = None


def find_function(model: StackModel, name: str) -> FunctionSpec:
    """A function of the stack by logical (`IngestFunction`) or physical (`picops-ingest`) name."""
    for spec in model.functions():
        if name in (spec.logical, spec.name):
            return spec
    known = ", ".join(f.logical for f in model.functions())
    raise ResourceMissing(f"unknown function {name!r} in stack {model.stack!r}", hint=f"functions: {known}")


def _now(options: EventOptions) -> dt.datetime:
    return (options.now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)


def _iso_ms(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _epoch_ms(when: dt.datetime) -> int:
    return int(when.timestamp() * 1000)


def _hex(n: int) -> str:
    return uuid.uuid4().hex.upper()[:n]


class EventGenerator:
    """Builds every kind for one stack model (its account, region and physical names)."""

    def __init__(self, model: StackModel, settings: Settings) -> None:
        self.model = model
        self.settings = settings
        self.names = StackNames(settings, model.account, model.region)

    # -- dispatch ------------------------------------------------------------------------------------------

    def generate(self, kind: str, options: EventOptions | None = None) -> dict[str, Any]:
        options = options or EventOptions()
        builders = {
            S3_PUT: self.s3_put,
            SQS_S3: self.sqs_s3,
            S3_TEST_EVENT: self.s3_test_event,
            DDB_STREAM: self.ddb_stream,
            SCHEDULE: self.schedule,
            S3_BATCH: self.s3_batch,
            APIGW_HTTP: self.apigw_http,
            SQS_FIFO: self.sqs_fifo,
        }
        if kind not in builders:
            raise UsageError(f"unknown event kind {kind!r}", hint=f"kinds: {', '.join(KINDS)}")
        return builders[kind](options)

    def trigger_of(self, function: str) -> tuple[str, EventOptions]:
        """The kind of event (and its source) that triggers `function` in the stack model."""
        spec = find_function(self.model, function)
        for mapping in self.model.of_type(EventSourceMapping):
            if mapping.function != spec.logical:
                continue
            source = self.model.get(mapping.source)
            if isinstance(source, Table):
                return DDB_STREAM, EventOptions()
            if isinstance(source, Queue):
                notified = any(n.queue == source.logical for n in self.model.of_type(BucketNotification))
                if notified:
                    return SQS_S3, EventOptions(queue=source.logical)
                return SQS_FIFO, EventOptions(queue=source.logical)
        for rule in self.model.of_type(ScheduleRule):
            if rule.function == spec.logical:
                return SCHEDULE, EventOptions(rule=rule.logical)
        for integration in self.model.of_type(ApiIntegration):
            if integration.function == spec.logical:
                route = next(r for r in self.model.of_type(ApiRoute) if r.integration == integration.logical)
                method, _, path = route.name.partition(" ")
                example = re.sub(r"\{[^}/]+\}", "example-id", path)
                body = None if method in ("GET", "HEAD", "DELETE") else "{}"
                return APIGW_HTTP, EventOptions(method=method, path=example, body=body)
        raise UsageError(
            f"{spec.logical} has no trigger in the stack model to generate an event for",
            hint="pass --event FILE",
        )

    def default_event(self, function: str) -> tuple[str, dict[str, Any]]:
        kind, options = self.trigger_of(function)
        return kind, self.generate(kind, options)

    # -- S3 ------------------------------------------------------------------------------------------------

    def _notification(self, bucket: str, key: str) -> tuple[str, str | None]:
        """(configuration id, notified queue logical name) of the stack's notification matching the key."""
        for notification in self.model.of_type(BucketNotification):
            if self.names.physical(notification.bucket) != bucket:
                continue
            for config in notification.configurations:
                if key.startswith(config.prefix) and key.endswith(config.suffix):
                    return config.id, notification.queue
        return "picops-generated", None

    def _default_key(self) -> str:
        suffixes = self.settings.ingest.suffixes
        suffix = suffixes[0] if suffixes else ".jpg"
        return f"{self.settings.ingest.prefix}example photo{suffix}"

    def s3_record(self, options: EventOptions) -> dict[str, Any]:
        bucket = options.bucket or self.names.uploads_bucket
        key = options.key or self._default_key()
        if options.size < 0:
            raise UsageError(f"--size must be 0 or more, not {options.size}")
        config_id, _ = self._notification(bucket, key)
        when = _now(options)
        obj: dict[str, Any] = {
            # S3 URL-encodes the key in notifications (form encoding: a space is `+`).
            "key": quote_plus(key, safe="/"),
            "size": options.size,
            "eTag": hashlib.md5(f"{bucket}/{key}".encode(), usedforsecurity=False).hexdigest(),
        }
        if options.version:
            obj["versionId"] = options.version
        obj["sequencer"] = f"{_epoch_ms(when):X}".rjust(18, "0")
        return {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": self.model.region,
            "eventTime": _iso_ms(when),
            "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": _S3_PRINCIPAL},
            "requestParameters": {"sourceIPAddress": "198.51.100.10"},
            "responseElements": {"x-amz-request-id": _hex(16), "x-amz-id-2": uuid.uuid4().hex * 2},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": config_id,
                "bucket": {
                    "name": bucket,
                    "ownerIdentity": {"principalId": _S3_OWNER},
                    "arn": f"arn:{self._partition}:s3:::{bucket}",
                },
                "object": obj,
            },
        }

    def s3_put(self, options: EventOptions) -> dict[str, Any]:
        return {"Records": [self.s3_record(options)]}

    def _notified_queue(self, options: EventOptions) -> str:
        if options.queue:
            return self._queue(options.queue)
        bucket = options.bucket or self.names.uploads_bucket
        _, queue = self._notification(bucket, options.key or self._default_key())
        if queue is None:
            queues = [n.queue for n in self.model.of_type(BucketNotification)]
            if not queues:
                raise UsageError("the stack has no bucket notifying a queue; pass --queue")
            queue = queues[0]
        return queue

    def sqs_s3(self, options: EventOptions) -> dict[str, Any]:
        queue = self._notified_queue(options)
        body = json.dumps(self.s3_put(options), separators=(",", ":"))
        return {"Records": [self._sqs_record(queue, body, options, sender=_S3_SENDER_ID)]}

    def s3_test_event(self, options: EventOptions) -> dict[str, Any]:
        queue = self._notified_queue(options)
        when = _now(options)
        body = json.dumps(
            {
                "Service": "Amazon S3",
                "Event": "s3:TestEvent",
                "Time": _iso_ms(when),
                "Bucket": options.bucket or self.names.uploads_bucket,
                "RequestId": _hex(16),
                "HostId": uuid.uuid4().hex * 2,
            },
            separators=(",", ":"),
        )
        return {"Records": [self._sqs_record(queue, body, options, sender=_S3_SENDER_ID)]}

    def s3_batch(self, options: EventOptions) -> dict[str, Any]:
        if options.schema not in BATCH_SCHEMAS:
            raise UsageError(f"--schema must be one of {', '.join(BATCH_SCHEMAS)}, not {options.schema!r}")
        bucket = options.bucket or self.names.uploads_bucket
        key = options.key or self._default_key()
        task: dict[str, Any] = {
            "taskId": uuid.uuid4().hex,
            # Batch Operations passes keys URL-encoded, as in the manifest.
            "s3Key": quote_plus(key, safe="/"),
            "s3VersionId": options.version,
        }
        job: dict[str, Any] = {"id": str(uuid.uuid4())}
        if options.schema == "1.0":
            task["s3BucketArn"] = f"arn:{self._partition}:s3:::{bucket}"
        else:
            task["s3Bucket"] = bucket
            job["userArguments"] = {}
        return {
            "invocationSchemaVersion": options.schema,
            "invocationId": uuid.uuid4().hex,
            "job": job,
            "tasks": [task],
        }

    # -- DynamoDB stream -----------------------------------------------------------------------------------

    def ddb_stream(self, options: EventOptions) -> dict[str, Any]:
        name = options.event_name.upper()
        if name not in STREAM_EVENT_NAMES:
            raise UsageError(
                f"--name must be one of {', '.join(STREAM_EVENT_NAMES)}, not {options.event_name!r}"
            )
        moderation = self.settings.moderation
        statuses = list(moderation.statuses) or ["approved"]
        status = options.status or statuses[0]
        old_status = next((s for s in statuses if s != status), status)
        key_attr, status_attr = moderation.key_attribute, moderation.status_attribute
        key = options.key or self._default_key()
        table = next((t for t in self.model.of_type(Table) if t.logical == "ModerationTable"), None)
        view = (table.stream_view if table else None) or "NEW_AND_OLD_IMAGES"
        when = _now(options)
        keys = {key_attr: {"S": key}}
        stream: dict[str, Any] = {"ApproximateCreationDateTime": int(when.timestamp()), "Keys": keys}
        if name in ("INSERT", "MODIFY"):
            stream["NewImage"] = {key_attr: {"S": key}, status_attr: {"S": status}}
        if name in ("MODIFY", "REMOVE"):
            stream["OldImage"] = {key_attr: {"S": key}, status_attr: {"S": old_status}}
        stream["SequenceNumber"] = str(_epoch_ms(when) * 10**8 + uuid.uuid4().int % 10**8)
        stream["SizeBytes"] = len(json.dumps(stream, separators=(",", ":")).encode())
        stream["StreamViewType"] = view
        label = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}"
        return {
            "Records": [
                {
                    "eventID": uuid.uuid4().hex,
                    "eventName": name,
                    "eventVersion": "1.1",
                    "eventSource": "aws:dynamodb",
                    "awsRegion": self.model.region,
                    "dynamodb": stream,
                    "eventSourceARN": f"{self.names.arn('ModerationTable')}/stream/{label}",
                }
            ]
        }

    # -- EventBridge ---------------------------------------------------------------------------------------

    def schedule(self, options: EventOptions) -> dict[str, Any]:
        rules = [r for r in self.model.of_type(ScheduleRule) if options.rule in (None, r.logical)]
        if not rules:
            raise UsageError("the stack has no schedule rule")
        if rules[0].input:
            # A rule with a constant input delivers that instead of the Scheduled Event.
            return dict(json.loads(rules[0].input))
        return scheduled_event(self.names.arn(rules[0].logical), now=_now(options))

    # -- API Gateway HTTP API ------------------------------------------------------------------------------

    def _route(self, method: str, path: str) -> tuple[str, dict[str, str]]:
        routes = [r.name for r in self.model.of_type(ApiRoute)]
        for route in routes:
            route_method, _, template = route.partition(" ")
            if route_method not in (method, "ANY"):
                continue
            pattern = "^" + re.sub(r"\\\{([^}/]+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
            match = re.match(pattern, path)
            if match:
                return route, dict(match.groupdict())
        raise UsageError(
            f"no route of the stack's HTTP API matches {method} {path}",
            hint=f"routes: {', '.join(routes) or 'none'}",
        )

    def apigw_http(self, options: EventOptions) -> dict[str, Any]:
        method = options.method.upper()
        split = urlsplit(options.path)
        path = split.path or "/"
        if not path.startswith("/"):
            raise UsageError(f"--path must start with '/', not {options.path!r}")
        route, params = self._route(method, path)
        when = _now(options)
        apis = self.model.of_type(HttpApi)
        api_id = hashlib.sha256((apis[0].name if apis else self.model.stack).encode()).hexdigest()[:10]
        domain = f"{api_id}.execute-api.{self.model.region}.amazonaws.com"
        headers: dict[str, str] = {
            "accept": "*/*",
            "host": domain,
            "user-agent": "curl/8.5.0",
            "x-amzn-trace-id": f"Root=1-{int(when.timestamp()):08x}-{uuid.uuid4().hex[:24]}",
            "x-forwarded-for": "198.51.100.10",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        }
        if options.body is not None:
            headers["content-length"] = str(len(options.body.encode()))
            headers["content-type"] = "application/json"
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route,
            "rawPath": path,
            "rawQueryString": split.query,
            "headers": dict(sorted(headers.items())),
        }
        if split.query:
            query: dict[str, list[str]] = {}
            for name, value in parse_qsl(split.query, keep_blank_values=True):
                query.setdefault(name, []).append(value)
            # HTTP API joins repeated parameters with commas.
            event["queryStringParameters"] = {k: ",".join(v) for k, v in query.items()}
        event["requestContext"] = {
            "accountId": self.model.account,
            "apiId": api_id,
            "domainName": domain,
            "domainPrefix": api_id,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.10",
                "userAgent": headers["user-agent"],
            },
            "requestId": _hex(8).lower() + "=",
            "routeKey": route,
            "stage": "$default",
            "time": when.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": _epoch_ms(when),
        }
        if params:
            event["pathParameters"] = params
        if options.body is not None:
            event["body"] = options.body
        event["isBase64Encoded"] = False
        return event

    # -- SQS -----------------------------------------------------------------------------------------------

    def _queue(self, logical_or_name: str) -> str:
        for queue in self.model.of_type(Queue):
            if logical_or_name in (queue.logical, queue.name):
                return str(queue.logical)
        known = ", ".join(q.logical for q in self.model.of_type(Queue))
        raise UsageError(f"unknown queue {logical_or_name!r}", hint=f"queues: {known}")

    def _sqs_record(
        self, queue: str, body: str, options: EventOptions, *, sender: str, fifo: bool = False
    ) -> dict[str, Any]:
        when = _now(options)
        sent = str(_epoch_ms(when))
        attributes: dict[str, str] = {"ApproximateReceiveCount": "1", "SentTimestamp": sent}
        if fifo:
            attributes["SequenceNumber"] = str(_epoch_ms(when) * 10**6 + uuid.uuid4().int % 10**6)
            attributes["MessageGroupId"] = options.group
        attributes["SenderId"] = sender
        if fifo:
            # The queues deduplicate on content: the id is the SHA-256 of the body.
            attributes["MessageDeduplicationId"] = hashlib.sha256(body.encode()).hexdigest()
        attributes["ApproximateFirstReceiveTimestamp"] = sent
        arn = self.names.arn(queue)
        return {
            "messageId": str(uuid.uuid4()),
            "receiptHandle": "AQEB" + uuid.uuid4().hex + uuid.uuid4().hex,
            "body": body,
            "attributes": attributes,
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": self.model.region,
        }

    def sqs_fifo(self, options: EventOptions) -> dict[str, Any]:
        if options.queue:
            queue = self._queue(options.queue)
        else:
            fifo = [q for q in self.model.of_type(Queue) if q.fifo and q.consumer]
            if not fifo:
                raise UsageError("the stack has no FIFO queue consumed by a function; pass --queue")
            queue = fifo[0].logical
        spec = self.model.get(queue)
        is_fifo = isinstance(spec, Queue) and spec.fifo
        if not options.group:
            raise UsageError("--group must not be empty")
        body = options.body if options.body is not None else json.dumps({"message": "generated by picops"})
        return {
            "Records": [
                self._sqs_record(
                    queue, body, options, sender=_SNS_SENDER_ID if is_fifo else _S3_SENDER_ID, fifo=is_fifo
                )
            ]
        }

    @property
    def _partition(self) -> str:
        return partition_of(self.model.region)


def with_defaults(options: EventOptions, **overrides: Any) -> EventOptions:
    """`options` with every override that is not None applied."""
    return replace(options, **{k: v for k, v in overrides.items() if v is not None})


def describe_kinds() -> Mapping[str, str]:
    return {
        S3_PUT: "S3 event notification (ObjectCreated:Put) for UploadsBucket",
        SQS_S3: "S3 notification inside an SQS record of the notified queue (IngestFunction's event)",
        S3_TEST_EVENT: "S3's s3:TestEvent inside an SQS record of the notified queue",
        DDB_STREAM: "DynamoDB stream record of ModerationTable (INSERT/MODIFY/REMOVE)",
        SCHEDULE: "EventBridge Scheduled Event of the stack's schedule rule (SweepSchedule)",
        S3_BATCH: "S3 Batch Operations LambdaInvoke event (schema 1.0 or 2.0)",
        APIGW_HTTP: "API Gateway HTTP API payload 2.0 event for one of BookingsApi's routes",
        SQS_FIFO: "record of a FIFO queue (InventoryQueue by default) with its message group",
    }
