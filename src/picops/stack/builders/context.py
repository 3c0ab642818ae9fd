"""What every builder needs: settings, names, ARNs, and the one way a function (log group, role) is made."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import BaseModel

from picops.config import REDRIVE_DLQS, Settings
from picops.functions import FUNCTIONS
from picops.stack import iam, metrics
from picops.stack.model import (
    DLQ_RETENTION_S,
    HANDLERS,
    VISIBILITY_FACTOR,
    EventSourceMapping,
    FunctionSpec,
    LogGroup,
    Queue,
    Resource,
    Role,
    frozen_json,
)
from picops.stack.names import DLQ_SOURCES, StackNames, build_arn, dlq_alarm_name, partition_of, role_name

# The configuration sections each function's handler reads besides [stack], and its (timeout s, memory MB)
# defaults: views of picops.functions.FUNCTIONS, where each is explained.
FUNCTION_SECTIONS: dict[str, tuple[str, ...]] = {f.logical: f.sections for f in FUNCTIONS}
FUNCTION_DEFAULTS: dict[str, tuple[int, int]] = {f.logical: (f.timeout_s, f.memory_mb) for f in FUNCTIONS}


def function_timeout_s(settings: Settings, fn: str) -> int:
    override = settings.deploy.functions.get(fn)
    if override is not None and override.timeout_s is not None:
        return override.timeout_s
    if "timeout_s" in settings.deploy.model_fields_set:
        return settings.deploy.timeout_s
    return FUNCTION_DEFAULTS[fn][0]


def function_memory_mb(settings: Settings, fn: str) -> int:
    override = settings.deploy.functions.get(fn)
    if override is not None and override.memory_mb is not None:
        return override.memory_mb
    if "memory_mb" in settings.deploy.model_fields_set:
        return settings.deploy.memory_mb
    return FUNCTION_DEFAULTS[fn][1]


def _env_value(value: object) -> str:
    """One setting as pydantic-settings parses it back: JSON for collections and models, text otherwise."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, BaseModel):
        return json.dumps(value.model_dump(mode="json"), sort_keys=True)
    if isinstance(value, tuple | list | dict):
        return json.dumps(value, sort_keys=True, default=_json_default)
    return str(value)


def _json_default(value: object) -> object:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else str(value)


def resolved_sections(settings: Settings, names: StackNames) -> dict[str, BaseModel]:
    """The sections as a deployed function must see them: physical names resolved from the stack."""
    return {
        "stack": settings.stack,
        "ingest": settings.ingest.model_copy(
            update={"uploads_bucket": names.uploads_bucket, "processed_bucket": names.processed_bucket}
        ),
        "moderation": settings.moderation.model_copy(update={"table_name": names.moderation_table}),
        "bookings": settings.bookings,
        "deploy": settings.deploy,
    }


def function_environment(settings: Settings, names: StackNames, function: str) -> tuple[tuple[str, str], ...]:
    """What `settings_from_env()` inside `function` needs to rebuild each section its handler reads, whole."""
    sections = resolved_sections(settings, names)
    env = {
        "PICOPS_STACK": settings.stack.name,
        "POWERTOOLS_SERVICE_NAME": metrics.service_name(settings.stack.name),
        # Powertools Metrics() publishes here (picops.stack.metrics names what each handler emits).
        "POWERTOOLS_METRICS_NAMESPACE": metrics.NAMESPACE,
    }
    if not settings.observability.tracing:
        # PassThrough records no trace worth keeping, and this keeps the X-Ray SDK out of every cold start
        # (picops.handlers._tracing; docs/architecture.md, "Cold start").
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    for section in FUNCTION_SECTIONS[function]:
        for field, value in sections[section]:
            if value is None:
                continue  # unset optional settings stay unset (their default)
            env[f"PICOPS_{section.upper()}__{field.upper()}"] = _env_value(value)
    return tuple(sorted(env.items()))


@dataclass(frozen=True)
class BuildContext:
    settings: Settings
    names: StackNames
    account: str
    region: str
    local: bool

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    def arn(self, logical: str) -> str:
        return self.names.arn(logical)

    @property
    def arns(self) -> iam.StackArns:
        arn = self.arn
        return iam.StackArns(
            uploads_bucket=arn("UploadsBucket"),
            processed_bucket=arn("ProcessedBucket"),
            ingest_queue=arn("IngestQueue"),
            inventory_queue=arn("InventoryQueue"),
            payment_queue=arn("PaymentQueue"),
            jobs_table=arn("JobsTable"),
            moderation_table=arn("ModerationTable"),
            bookings_table=arn("BookingsTable"),
            notify_topic=arn("NotifyTopic"),
            booking_topic=arn("BookingTopic"),
            alerts_topic=arn("AlertsTopic"),
            log_group={
                fn: build_arn(
                    self.region, "logs", self.account, f"log-group:/aws/lambda/{self.names.physical(fn)}"
                )
                for fn in HANDLERS
            },
            sweep_dlq=arn("SweepDLQ"),
            redrive=tuple(
                (
                    arn(dlq),
                    arn(DLQ_SOURCES[dlq]),
                    self.alarm_arn(dlq_alarm_name(self.settings.stack.name, dlq)),
                )
                for dlq in REDRIVE_DLQS
                if dlq in self.settings.dlq.scheduled()
            ),
        )

    def alarm_arn(self, name: str) -> str:
        return build_arn(self.region, "cloudwatch", self.account, f"alarm:{name}")

    def role_arn(self, fn: str) -> str:
        """The ARN of `fn`'s execution role (`<fn>Role`), derived from names like every other ARN."""
        rname = role_name(self.names.physical(fn), self.region)
        return f"arn:{self.partition}:iam::{self.account}:role/{rname}"

    def grants_by_role(self) -> dict[str, list[iam.Grant]]:
        """Every function's grants keyed by its role ARN (what key policies derive their publishers from)."""
        return {
            self.role_arn(fn): iam.function_grants(fn, self.arns, uploads_prefix=self.settings.ingest.prefix)
            for fn in HANDLERS
        }

    def timeout_s(self, fn: str) -> int:
        """`fn`'s timeout: `[deploy.functions.<fn>] timeout_s`, else an explicit `[deploy] timeout_s`, else
        the default that fits its job (FUNCTION_DEFAULTS)."""
        return function_timeout_s(self.settings, fn)

    def memory_mb(self, fn: str) -> int:
        return function_memory_mb(self.settings, fn)

    def function(self, fn: str) -> list[Resource]:
        """A function of the model with its log group and its own role, granted what its handler calls."""
        settings = self.settings
        name = self.names.physical(fn)
        tracing = settings.observability.tracing
        grants = iam.function_grants(fn, self.arns, uploads_prefix=settings.ingest.prefix, tracing=tracing)
        rname = role_name(name, self.region)
        return [
            LogGroup(
                f"{fn}LogGroup", f"/aws/lambda/{name}", retention_days=settings.deploy.log_retention_days
            ),
            Role(f"{fn}Role", rname, function=fn, document=frozen_json(iam.policy_document(grants))),
            FunctionSpec(
                fn,
                name,
                handler=HANDLERS[fn],
                environment=function_environment(settings, self.names, fn),
                timeout_s=self.timeout_s(fn),
                memory_mb=self.memory_mb(fn),
                runtime=settings.deploy.runtime,
                architecture=settings.deploy.architecture,
                role=f"{fn}Role",
                role_arn=self.names.role_arn(rname),
                log_group=f"{fn}LogGroup",
                reserved_concurrency=self.reserved_concurrency(fn),
                tracing=tracing,
            ),
        ]

    def reserved_concurrency(self, fn: str) -> int | None:
        """`[deploy.functions.<fn>] reserved_concurrency` (None: the function shares the unreserved pool)."""
        override = self.settings.deploy.functions.get(fn)
        return override.reserved_concurrency if override is not None else None


def deny_insecure_transport(bucket_arn: str) -> dict[str, object]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def allow_send(queue_arn: str, service: str, condition: dict[str, object]) -> dict[str, object]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": f"Allow{service.split('.')[0].upper()}Send",
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": condition,
            }
        ],
    }


def queue_pair(
    ctx: BuildContext,
    source: str,
    dlq: str,
    *,
    consumer: str,
    max_receive: int,
    batching_window_s: int = 0,
) -> list[Resource]:
    """A consumed queue and its DLQ (redrive needs the DLQ's ARN; the planner orders them)."""
    names = ctx.names
    fifo = names.physical(source).endswith(".fifo")
    return [
        Queue(dlq, names.physical(dlq), fifo=fifo, retention_s=DLQ_RETENTION_S),
        Queue(
            source,
            names.physical(source),
            fifo=fifo,
            # Six times its consumer's own timeout (AWS's guidance for Lambda event sources).
            # plus the mapping's batching window, during which a message already counts as received.
            visibility_timeout_s=VISIBILITY_FACTOR * ctx.timeout_s(consumer) + batching_window_s,
            dlq=dlq,
            dlq_arn=ctx.arn(dlq),
            max_receive_count=max_receive,
            consumer=consumer,
        ),
    ]


def sqs_mapping(
    ctx: BuildContext,
    queue: str,
    fn: str,
    *,
    batch_size: int,
    batching_window_s: int | None = None,
    max_concurrency: int | None = None,
) -> Resource:
    """`batching_window_s` None: not sent (what a FIFO queue needs; AWS refuses a window on one)."""
    names = ctx.names
    return EventSourceMapping(
        f"{fn}Mapping",
        f"{names.physical(queue)} -> {names.physical(fn)}:live",
        function=fn,
        function_name=names.physical(fn),
        source=queue,
        source_arn=ctx.arn(queue),
        batch_size=batch_size,
        batching_window_s=batching_window_s,
        report_batch_item_failures=True,
        max_concurrency=max_concurrency,
        local=ctx.local,
    )
