"""Wiring preflight: the mistakes AWS accepts silently (or rejects half-way through an apply), caught first.

Static checks read only the model; live checks also read what the planner found (an external ModerationTable,
other tools' notification rules on the uploads bucket). Every problem is reported at once, exit 2.
"""

from __future__ import annotations

import json
from typing import Any

from picops.errors import ConfigError, ResourceMissing
from picops.provision.plan import Plan
from picops.stack.iam import wildcard_violations
from picops.stack.model import (
    VISIBILITY_FACTOR,
    Alarm,
    ApiRoute,
    BucketNotification,
    EventSourceMapping,
    FunctionSpec,
    KmsKey,
    Queue,
    QueuePolicy,
    Role,
    StackModel,
    Subscription,
    Table,
    Topic,
)
from picops.stack.names import partition_of, s3_arn
from picops.stack.security import CLOUDWATCH_SERVICE, key_allows
from picops.stack.state_objects import RESERVED_PREFIX


def check_model(model: StackModel) -> list[str]:
    problems: list[str] = []
    problems += _fifo_pairs(model)
    problems += _visibility(model)
    problems += _s3_to_sqs(model)
    problems += _overlaps(model)
    problems += _distinct_buckets(model)
    problems += _sweep_budget(model)
    problems += _mappings(model)
    problems += _ingest_reserved_prefix(model)
    problems += _reserved_below_mapping_cap(model)
    for role in model.of_type(Role):
        problems += [f"{role.logical}: {p}" for p in wildcard_violations(json.loads(role.document))]
    problems += _topic_keys(model)
    return problems


def _topic_keys(model: StackModel) -> list[str]:
    """Every publisher of an encrypted topic must be allowed by its key's policy, or SNS refuses the message
    (for CloudWatch alarms: silently)."""
    problems: list[str] = []
    by_arn = {_topic_arn(model, t): t for t in model.of_type(Topic)}

    def allowed(topic: Topic, principal: str, service: bool) -> bool:
        key = model.get(topic.kms_key)
        assert isinstance(key, KmsKey)
        return key_allows(
            json.loads(key.document), principal=principal, service=service, topic_arn=_topic_arn(model, topic)
        )

    for role in model.of_type(Role):
        role_arn = f"arn:{partition_of(model.region)}:iam::{model.account}:role/{role.name}"
        for statement in json.loads(role.document).get("Statement", []):
            if "sns:Publish" not in _as_list(statement.get("Action")):
                continue
            for resource in _as_list(statement.get("Resource")):
                topic = by_arn.get(resource)
                if topic is not None and topic.kms_key and not allowed(topic, role_arn, False):
                    problems.append(
                        f"{topic.kms_key}: its key policy does not let {role.logical} encrypt for "
                        f"{topic.logical}; SNS would refuse its messages"
                    )
    for alarm in model.of_type(Alarm):
        topic = by_arn.get(alarm.topic_arn)
        if topic is not None and topic.kms_key and not allowed(topic, CLOUDWATCH_SERVICE, True):
            problems.append(
                f"{topic.kms_key}: its key policy does not let CloudWatch alarms ({alarm.logical}) encrypt "
                f"for {topic.logical}; the alarm would fire and notify nobody"
            )
    return problems


def _topic_arn(model: StackModel, topic: Topic) -> str:
    return f"arn:{partition_of(model.region)}:sns:{model.region}:{model.account}:{topic.name}"


def _fifo_pairs(model: StackModel) -> list[str]:
    problems = []
    for sub in model.of_type(Subscription):
        topic, queue = model.get(sub.topic), model.get(sub.queue)
        assert isinstance(topic, Topic)
        assert isinstance(queue, Queue)
        if topic.fifo != queue.fifo:
            problems.append(
                f"{sub.logical}: {'FIFO' if topic.fifo else 'standard'} topic {topic.name} cannot deliver to "
                f"{'FIFO' if queue.fifo else 'standard'} queue {queue.name} (SNS FIFO topics deliver only to "
                "FIFO queues, and standard topics only to standard queues)"
            )
    for queue in model.of_type(Queue):
        if queue.dlq:
            dlq = model.get(queue.dlq)
            assert isinstance(dlq, Queue)
            if dlq.fifo != queue.fifo:
                problems.append(
                    f"{queue.logical}: its dead-letter queue {dlq.name} must be FIFO exactly when it is"
                )
        if queue.fifo and not queue.name.endswith(".fifo"):
            problems.append(f"{queue.logical}: FIFO queue names must end in .fifo ({queue.name})")
    return problems


def _visibility(model: StackModel) -> list[str]:
    problems = []
    for queue in model.of_type(Queue):
        if not queue.consumer:
            continue
        function = model.get(queue.consumer)
        assert isinstance(function, FunctionSpec)
        # AWS: at least six times the function's timeout, plus the mapping's batching window.
        window = max(
            (
                m.batching_window_s or 0
                for m in model.of_type(EventSourceMapping)
                if m.source == queue.logical
            ),
            default=0,
        )
        if queue.visibility_timeout_s < VISIBILITY_FACTOR * function.timeout_s + window:
            plus = f" plus the {window}s batching window" if window else ""
            problems.append(
                f"{queue.logical}: visibility timeout {queue.visibility_timeout_s}s is under "
                f"{VISIBILITY_FACTOR}x {function.logical}'s timeout ({function.timeout_s}s){plus}: messages "
                "would be redelivered while still being processed"
            )
        if queue.visibility_timeout_s > 43200:
            problems.append(
                f"{queue.logical}: visibility timeout {queue.visibility_timeout_s}s exceeds SQS's 12 "
                f"hours; lower "
                f"[deploy.functions.{function.logical}] timeout_s"
            )
    return problems


# The sweeper must have at least this much working time per run beyond its margin, and a timeout at least
# twice the margin: below that most of every hourly run is spent stopping.
SWEEP_MIN_WORK_S = 30


def _sweep_budget(model: StackModel) -> list[str]:
    try:
        sweep = model.get("ModerationSweepFunction")
    except KeyError:
        return []
    if not isinstance(sweep, FunctionSpec):
        return []
    raw = dict(sweep.environment).get("PICOPS_MODERATION__SWEEP_MARGIN_S")
    if raw is None:
        return []
    margin = float(raw)
    needed = max(2 * margin, margin + SWEEP_MIN_WORK_S)  # 30 s with the default 15 s margin: refused
    if sweep.timeout_s >= needed:
        return []
    return [
        f"ModerationSweepFunction: timeout {sweep.timeout_s}s is not comfortably above [moderation] "
        f"sweep_margin_s ({margin:g}s): each hourly sweep would stop after at most "
        f"{max(0.0, sweep.timeout_s - margin):g}s of work (none at all when the timeout is not above the "
        f"margin); set [deploy.functions.ModerationSweepFunction] timeout_s to at least {needed:g} (the "
        "default is 600) or lower sweep_margin_s"
    ]


# Lambda's limits for event source mappings (CreateEventSourceMapping refuses anything else).
SQS_STANDARD_MAX_BATCH = 10_000
SQS_FIFO_MAX_BATCH = 10
SQS_BATCH_WITHOUT_WINDOW = 10
MAX_BATCHING_WINDOW_S = 300


def _mappings(model: StackModel) -> list[str]:
    problems = []
    for mapping in model.of_type(EventSourceMapping):
        source = model.get(mapping.source)
        window = mapping.batching_window_s
        if window is not None and not 0 <= window <= MAX_BATCHING_WINDOW_S:
            problems.append(
                f"{mapping.logical}: batching window {window}s is outside Lambda's 0-{MAX_BATCHING_WINDOW_S}s"
            )
        if not isinstance(source, Queue):
            continue
        setting = "[ingest] batch_size" if mapping.source == "IngestQueue" else "the batch size"
        if source.fifo:
            if mapping.batch_size > SQS_FIFO_MAX_BATCH:
                problems.append(
                    f"{mapping.logical}: batch size {mapping.batch_size} on FIFO queue {source.name}; Lambda "
                    f"allows at most {SQS_FIFO_MAX_BATCH} for FIFO queues"
                )
            if window:
                problems.append(
                    f"{mapping.logical}: FIFO queue {source.name} takes no batching window (Lambda refuses "
                    "MaximumBatchingWindowInSeconds on FIFO queues)"
                )
            continue
        if mapping.batch_size > SQS_STANDARD_MAX_BATCH:
            problems.append(
                f"{mapping.logical}: batch size {mapping.batch_size} exceeds Lambda's "
                f"{SQS_STANDARD_MAX_BATCH}"
            )
        if mapping.batch_size > SQS_BATCH_WITHOUT_WINDOW and not window:
            problems.append(
                f"{mapping.logical}: {setting} {mapping.batch_size} needs a batching window: Lambda "
                f"refuses a standard-queue batch over {SQS_BATCH_WITHOUT_WINDOW} without one; set [ingest] "
                "batch_window_s to 1 or more (seconds Lambda waits to fill a batch), or batch_size to 10"
            )
    return problems


def _s3_to_sqs(model: StackModel) -> list[str]:
    problems = []
    for notification in model.of_type(BucketNotification):
        policy = model.get(notification.queue_policy)
        assert isinstance(policy, QueuePolicy)
        bucket_arn = s3_arn(model.region, notification.name)
        statements = json.loads(policy.document).get("Statement", [])
        allowed = any(
            s.get("Effect") == "Allow"
            and s.get("Principal", {}).get("Service") == "s3.amazonaws.com"
            and "sqs:SendMessage" in _as_list(s.get("Action"))
            and bucket_arn in _condition_values(s.get("Condition", {}), "aws:SourceArn")
            for s in statements
        )
        if not allowed:
            problems.append(
                f"{policy.logical}: does not let s3.amazonaws.com send from {notification.name}; S3 "
                f"would refuse "
                "the notification configuration"
            )
        for config in notification.configurations:
            if config.queue_arn != policy.queue_arn:
                problems.append(
                    f"{notification.logical}: {config.id} targets {config.queue_arn}, not the policy's queue"
                )
    return problems


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _condition_values(condition: dict[str, Any], key: str) -> list[Any]:
    return [v for op in condition.values() for k, val in op.items() if k == key for v in _as_list(val)]


def _overlaps(model: StackModel) -> list[str]:
    problems = []
    for notification in model.of_type(BucketNotification):
        problems += notification_overlaps(notification, [])
    return problems


def notification_overlaps(notification: BucketNotification, foreign: list[dict[str, Any]]) -> list[str]:
    """Pairs of rules S3 would reject: ours against ours, and ours against other tools' (`foreign`)."""
    ours = [(c.id, c.prefix, c.suffix, set(c.events), True) for c in notification.configurations]
    theirs = [(f["Id"], f["Prefix"], f["Suffix"], set(f["Events"]), False) for f in foreign]
    rules = ours + theirs
    problems = []
    for i, (id_a, prefix_a, suffix_a, events_a, mine_a) in enumerate(rules):
        for id_b, prefix_b, suffix_b, events_b, mine_b in rules[i + 1 :]:
            if not (mine_a or mine_b):
                continue
            if (
                _overlap(prefix_a, prefix_b, "prefix")
                and _overlap(suffix_a, suffix_b, "suffix")
                and _events_overlap(events_a, events_b)
            ):
                owner = "" if mine_a and mine_b else " (a rule another tool owns on the bucket)"
                problems.append(
                    f"{notification.logical}: rules {id_a} ({prefix_a!r}, {suffix_a!r}) and {id_b} "
                    f"({prefix_b!r}, {suffix_b!r}) overlap{owner}; S3 rejects overlapping prefix/suffix "
                    f"rules "
                    "for the same event type ([ingest] prefix / suffixes)"
                )
    return problems


def _overlap(a: str, b: str, kind: str) -> bool:
    if kind == "prefix":
        return a.startswith(b) or b.startswith(a)
    return a.endswith(b) or b.endswith(a)


def _events_overlap(a: set[str], b: set[str]) -> bool:
    def family(event: str) -> str:
        return event.rsplit(":", 1)[0] if event.endswith("*") else event

    return any(
        x == y
        or (x.endswith("*") and y.startswith(family(x)))
        or (y.endswith("*") and x.startswith(family(y)))
        for x in a
        for y in b
    )


def _distinct_buckets(model: StackModel) -> list[str]:
    uploads, processed = model.get("UploadsBucket").name, model.get("ProcessedBucket").name
    if uploads == processed:
        return [
            f"ProcessedBucket and UploadsBucket are the same bucket ({uploads}): outputs written under the "
            "ingest prefix would re-trigger ingest; set [ingest] processed_bucket to another bucket"
        ]
    return []


def _ingest_reserved_prefix(model: StackModel) -> list[str]:
    """Ingest must never see picops's own state objects (`_picops/...`, e.g. the sweeper's JSON)."""
    problems = []
    for notification in model.of_type(BucketNotification):
        if notification.bucket != "UploadsBucket":
            continue
        for config in notification.configurations:
            if RESERVED_PREFIX.startswith(config.prefix) or config.prefix.startswith(RESERVED_PREFIX):
                problems.append(
                    f"{notification.logical}: [ingest] prefix {config.prefix!r} covers picops's reserved "
                    f"prefix {RESERVED_PREFIX!r} (its own state objects would be ingested); set [ingest] "
                    "prefix to a folder such as 'incoming/'"
                )
                break
    return problems


# What the moderation stream handler needs: INSERT/MODIFY records carry the verdict only in NewImage (REMOVE
# needs just the keys, which every view type has).
IMAGE_VIEWS = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")


def check_live(plan: Plan) -> list[str]:
    problems: list[str] = []
    for change in plan.changes:
        resource = change.resource
        if isinstance(resource, BucketNotification):
            problems += _overlaps_with_foreign(plan, resource)
        if isinstance(resource, Table) and resource.external:
            if change.action == "create":
                raise ResourceMissing(
                    f"ModerationTable {resource.name} does not exist, and [moderation] external = true means "
                    "picops must not create it",
                    hint="ask the vendor for the table name and set [moderation] table_name",
                )
            wanted = resource.key_schema()
            if change.live is not None and change.live.get("KeySchema") != wanted:
                problems.append(
                    f"ModerationTable {resource.name} (external) is keyed {change.live.get('KeySchema')}, "
                    f"but [moderation] key_attribute expects the partition key {resource.hash_key!r} alone"
                )
            if change.live is not None and not change.live.get("StreamEnabled"):
                problems.append(
                    f"ModerationTable {resource.name} (external) has no stream; the vendor must enable a "
                    "NEW_AND_OLD_IMAGES stream for the moderation stream function"
                )
            elif change.live is not None and change.live.get("StreamViewType") not in IMAGE_VIEWS:
                problems.append(
                    f"ModerationTable {resource.name} (external) has a {change.live.get('StreamViewType')} "
                    f"stream, but the moderation stream function reads verdicts from new images: the vendor "
                    f"must switch it to {' or '.join(IMAGE_VIEWS)}"
                )
    return problems


def _overlaps_with_foreign(plan: Plan, notification: BucketNotification) -> list[str]:
    foreign = plan.ctx.fact(notification.logical, "Foreign") or []
    return [p for p in notification_overlaps(notification, foreign) if "another tool" in p]


# Lambda refuses a reservation that would leave fewer unreserved concurrent executions than this.
MIN_UNRESERVED = 100


def _reserved_below_mapping_cap(model: StackModel) -> list[str]:
    """A reserved concurrency under the SQS mapping's MaximumConcurrency throttles invocations the mapping
    starts; throttled batches go back to the queue with their receive count raised, and healthy messages end
    in the DLQ. (The mapping's cap is the way to limit an SQS consumer.)"""
    problems = []
    for mapping in model.of_type(EventSourceMapping):
        function = model.get(mapping.function)
        assert isinstance(function, FunctionSpec)
        reserved, cap = function.reserved_concurrency, mapping.max_concurrency
        if reserved is not None and cap is not None and reserved < cap:
            problems.append(
                f"{function.logical}: reserved_concurrency {reserved} is below {mapping.logical}'s "
                f"MaximumConcurrency {cap}: throttled SQS batches count as receives and push healthy "
                "messages "
                f"into the DLQ; set [deploy.functions.{function.logical}] reserved_concurrency to at least "
                f"{cap}, or lower the mapping's max_concurrency instead"
            )
    return problems


def check_concurrency(plan: Plan) -> list[str]:
    """The reservations asked for against the account's concurrency (Lambda GetAccountSettings): AWS refuses
    any that leave fewer than 100 executions unreserved, and a new account's limit may be only 10."""
    wanted = {f.logical: f.reserved_concurrency for f in plan.model.functions() if f.reserved_concurrency}
    if not wanted or plan.ctx.factory.is_local:
        return []  # nothing reserved (0 reserves nothing), or an emulator without account limits
    limits = plan.ctx.client("lambda").get_account_settings()["AccountLimit"]
    limit = int(limits["ConcurrentExecutions"])
    unreserved = int(limits["UnreservedConcurrentExecutions"])
    # What this stack's functions reserve now is released when their reservations are replaced.
    ours_now = sum(
        int((c.live or {}).get("ReservedConcurrentExecutions") or 0)
        for c in plan.changes
        if isinstance(c.resource, FunctionSpec)
    )
    elsewhere = max(limit - unreserved - ours_now, 0)
    total = sum(v for v in wanted.values() if v)
    left = limit - elsewhere - total
    if left >= MIN_UNRESERVED:
        return []
    listed = ", ".join(f"{logical} {n}" for logical, n in wanted.items())
    return [
        f"reserved concurrency {total} ({listed}) would leave {left} of the account's {limit} concurrent "
        f"executions in {plan.model.region} unreserved ({elsewhere} reserved by other functions); Lambda "
        f"keeps at least {MIN_UNRESERVED} unreserved. Lower [deploy.functions.<Logical>] "
        "reserved_concurrency, or request a higher Lambda 'Concurrent executions' quota (Service Quotas)"
    ]


def preflight_model(model: StackModel) -> None:
    problems = check_model(model)
    if problems:
        raise ConfigError("wiring preflight failed:\n  " + "\n  ".join(problems))


def preflight(plan: Plan) -> None:
    problems = check_model(plan.model) + check_live(plan) + check_concurrency(plan)
    if problems:
        raise ConfigError("wiring preflight failed:\n  " + "\n  ".join(problems))


def security_warnings(model: StackModel) -> list[str]:
    """What is allowed but weakens the stack on a real AWS target (printed loudly, not refused)."""
    if model.local:
        return []
    warnings = []
    open_routes = [r.name for r in model.of_type(ApiRoute) if r.authorization_type == "NONE"]
    if open_routes:
        warnings.append(
            f"BookingsApi routes {', '.join(open_routes)} accept requests from ANYONE on the internet "
            '([bookings] authorizer = "none"); set authorizer = "iam" or "jwt" (with jwt_issuer and '
            "jwt_audience) before real traffic reaches it"
        )
    return warnings
