"""Shared storage and alerts: the two buckets (with their access log bucket), JobsTable (picops's own table),
AlertsTopic, and the stack-owned keys that encrypt the SNS topics."""

from __future__ import annotations

from picops.stack import security
from picops.stack.builders.context import BuildContext, deny_insecure_transport
from picops.stack.model import HANDLERS, Bucket, BucketPolicy, KmsKey, Resource, Table, Topic, frozen_json
from picops.stack.names import BUCKET_NAME_MAX, bounded_name

# Logical names of the security resources (not among the contract names of docs/provision.md: they hang
# off the stack).
ACCESS_LOGS_BUCKET = "AccessLogsBucket"
TOPICS_KEY = "TopicsKey"
ALERTS_KEY = "AlertsKey"
# Which key encrypts which topic: NotifyTopic and BookingTopic share one key (each publisher is limited to
# its own topic by the encryption context); AlertsTopic has its own, used only by CloudWatch alarms and the
# stream mapping's on-failure path.
TOPIC_KEYS: dict[str, str] = {
    "NotifyTopic": TOPICS_KEY,
    "BookingTopic": TOPICS_KEY,
    "AlertsTopic": ALERTS_KEY,
}
LOG_PREFIXES: dict[str, str] = {"UploadsBucket": "uploads/", "ProcessedBucket": "processed/"}


def key_alias(ctx: BuildContext, key: str) -> str:
    return f"alias/{ctx.settings.stack.name}-{'alerts' if key == ALERTS_KEY else 'topics'}"


def access_logs_bucket_name(ctx: BuildContext) -> str:
    # Same scheme as the other buckets (names.py): global names carry account and region.
    # Global like the other buckets: past 63 characters a hash keeps regions apart (a cut would not).
    return bounded_name(f"{ctx.settings.stack.name}-access-logs-{ctx.account}-{ctx.region}", BUCKET_NAME_MAX)


def encrypted_topic(ctx: BuildContext, logical: str, *, fifo: bool = False) -> Topic:
    """A topic of the model with SNS server-side encryption under its stack key (TOPIC_KEYS)."""
    key = TOPIC_KEYS[logical]
    return Topic(
        logical, ctx.names.physical(logical), fifo=fifo, kms_key=key, kms_key_alias=key_alias(ctx, key)
    )


def _keys(ctx: BuildContext) -> list[Resource]:
    grants = ctx.grants_by_role()
    role_logical = {ctx.role_arn(fn): f"{fn}Role" for fn in HANDLERS}
    alarms = f"arn:{ctx.partition}:cloudwatch:{ctx.region}:{ctx.account}:alarm:{ctx.settings.stack.name}-*"
    users: dict[str, list[security.TopicUsers]] = {TOPICS_KEY: [], ALERTS_KEY: []}
    for topic, key in TOPIC_KEYS.items():
        arn = ctx.arn(topic)
        # Alarms notify AlertsTopic only; every function publisher (and the stream mapping's on-failure
        # destination, sent with ModerationStreamFunction's role) comes from the IAM grants.
        services = (security.CLOUDWATCH_SERVICE,) if topic == "AlertsTopic" else ()
        users[key].append(
            security.TopicUsers(
                topic=topic,
                topic_arn=arn,
                roles=security.publishers(grants, arn),
                services=services,
                alarm_arn_pattern=alarms if services else "",
            )
        )
    out: list[Resource] = []
    for key, topics in users.items():
        policy = security.topic_key_policy(
            partition=ctx.partition, account=ctx.account, region=ctx.region, topics=topics
        )
        principals = tuple(sorted({role_logical[r] for t in topics for r in t.roles}))
        out.append(
            KmsKey(
                key,
                key_alias(ctx, key),
                description=f"picops {ctx.settings.stack.name}: SNS encryption of "
                + ", ".join(t.topic for t in topics),
                document=frozen_json(policy),
                principals=principals,
            )
        )
    return out


def build(ctx: BuildContext) -> list[Resource]:
    names, settings = ctx.names, ctx.settings
    resources: list[Resource] = []
    logs = settings.stack.access_logs
    log_name = access_logs_bucket_name(ctx)
    log_arn = f"arn:{ctx.partition}:s3:::{log_name}"
    if logs:
        resources.append(Bucket(ACCESS_LOGS_BUCKET, log_name, expire_days=settings.stack.access_log_days))
        resources.append(
            BucketPolicy(
                f"{ACCESS_LOGS_BUCKET}Policy",
                log_name,
                bucket=ACCESS_LOGS_BUCKET,
                document=frozen_json(
                    security.log_bucket_policy(
                        bucket_arn=log_arn,
                        source_bucket_arns=[ctx.arn(b) for b in LOG_PREFIXES],
                        account=ctx.account,
                        # See below: the embedded endpoint serves plain HTTP.
                        tls_only=not ctx.local,
                    )
                ),
            )
        )
    for logical, versioned in (("UploadsBucket", True), ("ProcessedBucket", False)):
        resources.append(
            Bucket(
                logical,
                names.physical(logical),
                versioned=versioned,
                log_bucket=ACCESS_LOGS_BUCKET if logs else "",
                log_bucket_name=log_name if logs else "",
                log_prefix=LOG_PREFIXES[logical] if logs else "",
                log_policy=f"{ACCESS_LOGS_BUCKET}Policy" if logs else "",
            )
        )
        if ctx.local:
            # The embedded endpoint serves plain HTTP and evaluates bucket policies: a TLS-only policy would
            # refuse every request. Real AWS targets and the CloudFormation export always carry it.
            continue
        resources.append(
            BucketPolicy(
                f"{logical}Policy",
                names.physical(logical),
                bucket=logical,
                document=frozen_json(deny_insecure_transport(ctx.arn(logical))),
            )
        )
    resources.append(
        Table(
            "JobsTable",
            names.physical("JobsTable"),
            hash_key="pk",
            range_key="sk",
            point_in_time_recovery=True,
        )
    )
    resources += _keys(ctx)
    resources.append(encrypted_topic(ctx, "AlertsTopic"))
    return resources
