"""Settings: flags > PICOPS_* environment > TOML file > defaults.

The CLI and the Lambdas build the same `Settings`: the CLI from its flags, the environment and a TOML file;
a Lambda from environment variables alone (provision sets them). Nested keys use `__` in the environment
(`PICOPS_MODERATION__TAG_KEY`); a few common ones have short names (`PICOPS_STACK`, `PICOPS_ENDPOINT_URL`,
`PICOPS_REGION`, `PICOPS_PROFILE`).
"""

from __future__ import annotations

import functools
import json
import os
import re
import tomllib
import types
from collections.abc import Mapping
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo

from picops.errors import ConfigError
from picops.functions import LOGICAL_NAMES

DEFAULT_CONFIG_FILE = "picops.toml"
# picops's own local state (the recorded local endpoint and its log, tag-backfill checkpoints, the bundle
# cache) lives in one directory: PICOPS_STATE_DIR, else ./.picops. `state_dir()` is the one place that knows.
STATE_DIR_ENV = "PICOPS_STATE_DIR"
DEFAULT_STATE_DIR = ".picops"

# Short environment names for the keys people set most; the long form PICOPS_<SECTION>__<KEY> works for all.
ENV_SHORTCUTS: dict[str, tuple[str, str]] = {
    "PICOPS_STACK": ("stack", "name"),
    "PICOPS_ENDPOINT_URL": ("aws", "endpoint_url"),
    "PICOPS_REGION": ("aws", "region"),
    "PICOPS_PROFILE": ("aws", "profile"),
}

_STACK_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$")


class _Section(BaseModel):
    # A typo in a config file must be an error, not a silently ignored key.
    model_config = ConfigDict(extra="forbid", frozen=True)


class AwsSettings(_Section):
    region: str | None = Field(
        default=None, description="AWS region; unset means the profile's or AWS_REGION"
    )
    profile: str | None = Field(default=None, description="named profile from ~/.aws/config")
    endpoint_url: str | None = Field(default=None, description="send every request here (local endpoint)")
    account_id: str | None = Field(
        default=None,
        pattern=r"^\d{12}$",
        description="the 12-digit account, for output that must not call STS (`provision --print-policy`)",
    )
    retry_mode: Literal["standard", "adaptive"] = "standard"
    max_attempts: int = Field(default=8, ge=1, le=20)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not _REGION.match(value):
            raise ValueError(f"{value!r} is not an AWS region name (like us-east-1)")
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/") if value else value


class StackSettings(_Section):
    name: str = "picops"
    # S3 server access logging of UploadsBucket and ProcessedBucket into the stack's AccessLogsBucket.
    access_logs: bool = True
    # Days an access log object is kept before the log bucket's lifecycle rule expires it.
    access_log_days: int = Field(default=90, ge=1, le=3650)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _STACK_NAME.match(value):
            raise ValueError(
                f"{value!r} is not a valid stack name: 2-32 characters, lowercase letters, digits and "
                "hyphens, starting with a letter"
            )
        return value


class RenditionSettings(_Section):
    """One image ingest writes per upload (docs/ingest.md, "Renditions")."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    max_size: int = Field(ge=16, le=8192, description="longest edge in pixels")
    format: Literal["jpeg", "webp", "avif"] = "jpeg"
    quality: int = Field(default=85, ge=1, le=100)


class IngestSettings(_Section):
    prefix: str = "incoming/"
    # S3's suffix filters are case-sensitive: add ".JPG", ".HEIC" etc. for uploaders that write them so.
    suffixes: tuple[str, ...] = (
        ".jpg",
        ".jpeg",
        ".png",
        ".webp",
        ".gif",
        ".heic",
        ".heif",
        ".avif",
        ".json",
    )
    max_receive_count: int = Field(default=5, ge=1, le=1000)
    batch_size: int = Field(default=10, ge=1, le=10000)
    # MaximumBatchingWindowInSeconds of the IngestQueue mapping: how long Lambda gathers a batch. AWS refuses
    # a standard-queue batch_size over 10 without a window of at least 1 s (preflight checks it first).
    batch_window_s: int = Field(default=0, ge=0, le=300)
    # The event source mapping's ScalingConfig.MaximumConcurrency: at most this many IngestFunction
    # invocations at once, so a burst of uploads cannot swamp what is downstream (docs/operating.md).
    max_concurrency: int = Field(default=10, ge=2, le=1000)
    uploads_bucket: str | None = Field(default=None, description="physical name; default derives from stack")
    processed_bucket: str | None = None
    # Thumbnails: longest edge in pixels and JPEG quality (picops.core.ingest.thumbnails).
    thumbnail_size: int = Field(default=256, ge=16, le=4096)
    thumbnail_quality: int = Field(default=85, ge=1, le=95)
    # Refuse images with more pixels than this (read from the header, before decoding).
    max_pixels: int = Field(default=50_000_000, ge=1, le=1_000_000_000)
    # Refuse objects larger than this (from the event or the GET's headers, before downloading the body).
    max_bytes: int = Field(default=50 * 1024 * 1024, ge=1, le=5 * 1024**3)
    # Refuse JSON drops larger than this.
    max_json_bytes: int = Field(default=1024 * 1024, ge=1, le=50 * 1024 * 1024)
    # The images written per upload; unset: one rendition named "thumbnail", thumbnail_size px, JPEG at
    # thumbnail_quality, at thumbnails/<key>.jpg (picops.core.ingest.renditions).
    renditions: tuple[RenditionSettings, ...] | None = None

    @model_validator(mode="after")
    def _renditions(self) -> IngestSettings:
        if self.renditions is None:
            return self
        if not self.renditions:
            raise ValueError("renditions: list at least one, or leave it unset for the single thumbnail")
        names = [r.name for r in self.renditions]
        if len(set(names)) != len(names):
            raise ValueError(f"renditions: names must be unique ({', '.join(names)})")
        # thumbnails/<name>/... must never be mistaken for the default rendition's thumbnails/<prefix>...
        first = self.prefix.split("/", 1)[0]
        if first in names:
            raise ValueError(f"renditions: a rendition must not be named {first!r}, like [ingest] prefix")
        return self

    @field_validator("suffixes")
    @classmethod
    def _suffixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for suffix in value:
            if not suffix or "/" in suffix:
                raise ValueError(f"suffix {suffix!r} must be non-empty and contain no '/'")
        return value


class ModerationSettings(_Section):
    key_attribute: str = "object_key"
    status_attribute: str = "status"
    statuses: tuple[str, ...] = ("approved", "flagged", "rejected")
    tag_key: str = Field(default="moderation-status", min_length=1, max_length=128)
    external: bool = False
    table_name: str | None = Field(default=None, description="physical name; default derives from stack")
    on_remove: Literal["keep", "remove"] = "keep"
    # The sweeper stops taking new work when less than this much Lambda time remains.
    sweep_margin_s: float = Field(default=15.0, ge=1, le=600)
    # Key prefix the sweeper covers; empty = the whole UploadsBucket (every object must carry its verdict).
    sweep_prefix: str = ""
    # Concurrent batches per stream shard (the mapping's ParallelizationFactor). 1 keeps every object key's
    # verdicts in order; above 1 Lambda still orders by partition key, but spreads a shard over N invocations.
    parallelization_factor: int = Field(default=1, ge=1, le=10)
    # Worker threads (and S3 connections) the sweeper and the batch-operations Lambda use.
    sweep_concurrency: int = Field(default=16, ge=1, le=256)
    # The share of UploadsBucket the hourly sweeper reads on S3 each cycle whatever the tag ledger says (a
    # rotating slice, rounded to 1/N: the default verifies every object once every 24 cycles, a day when the
    # sweep gets round the bucket each hour). 0 trusts the ledger entirely; 1 verifies everything.
    verify_fraction: float = Field(default=1 / 24, ge=0, le=1)
    # IAM role S3 Batch Operations assumes for `tag-backfill --engine batch-operations`.
    batch_role_arn: str | None = Field(
        default=None, description="default <stack>-moderation-batch-<region> role"
    )
    # The bucket S3 Inventory delivers reports to (outside the stack): the stack's ModerationBatchRole may
    # read manifests and data files there. Unset: the role reads nothing and the batch engine refuses to run.
    inventory_bucket: str | None = None

    @field_validator("inventory_bucket")
    @classmethod
    def _inventory_bucket(cls, value: str | None) -> str | None:
        if value is not None and not _BUCKET.match(value):
            raise ValueError(
                f"{value!r} is not an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens; "
                "just the name, no s3:// or path)"
            )
        return value or None

    @field_validator("statuses")
    @classmethod
    def _statuses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one status is needed")
        return value


_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


class BookingsSettings(_Section):
    max_receive_count: int = Field(default=5, ge=1, le=1000)
    # BookingsApi's $default stage: steady-state requests per second and burst, for every route.
    api_rate: float = Field(default=50.0, gt=0, le=100000)
    api_burst: int = Field(default=100, ge=1, le=100000)
    # Who may call BookingsApi: anyone ("none"; preflight warns on a real AWS target), SigV4-signed callers
    # with execute-api:Invoke ("iam"), or bearers of a JWT from `jwt_issuer` for `jwt_audience` ("jwt").
    authorizer: Literal["none", "iam", "jwt"] = "none"
    jwt_issuer: str | None = Field(default=None, description="with authorizer = jwt: the issuer URL (https)")
    jwt_audience: tuple[str, ...] = ()

    @field_validator("jwt_issuer")
    @classmethod
    def _issuer(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.match(r"^https://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an https:// issuer URL")
        return value

    @model_validator(mode="after")
    def _jwt(self) -> BookingsSettings:
        if self.authorizer == "jwt" and (not self.jwt_issuer or not self.jwt_audience):
            raise ValueError(
                'authorizer = "jwt" needs jwt_issuer (https URL) and jwt_audience (at least one client id)'
            )
        return self

    # ScalingConfig.MaximumConcurrency of the InventoryQueue and PaymentQueue mappings (each). A FIFO queue is
    # consumed one batch per message group at a time anyway, so this only bites with many active groups.
    max_concurrency: int = Field(default=10, ge=2, le=1000)
    # The payment gateway: a dotted path to a class implementing picops.core.bookings.PaymentGateway,
    # constructed with (dynamodb client, table name). The default simulates one (see docs/bookings.md).
    gateway: str = "picops.core.bookings.SimulatedGateway"
    # How long a payment consumer holds a seat in PAYING before another may reconcile it (same idempotency
    # key). Keep it at or below the function timeout; queue visibility is 6x the timeout.
    lease_s: int = Field(default=30, ge=1, le=900)
    # Charges with an unknown outcome retried at once (same key) before the message is left to SQS's retry.
    unknown_retries: int = Field(default=1, ge=0, le=10)
    # Amount charged (minor units, e.g. cents) when a request names none.
    default_amount: int = Field(default=1000, ge=1, le=100_000_000)
    # A booking whose publish to BookingTopic was not confirmed this long ago is republished by
    # `picops bookings republish` (the outbox sweep).
    republish_after_s: int = Field(default=60, ge=0, le=86_400)
    # How often the scheduled outbox sweep (OutboxSweepFunction, on OutboxSchedule) republishes by itself:
    # seconds, or "30s", "5m", "1h"; 0 turns the schedule off. EventBridge's finest rate is one minute, so on
    # AWS a shorter period runs every minute; the local runtime keeps it exact.
    republish_every: int = Field(default=300, ge=0, le=86_400)
    # The deployed BookingsApi URL for `picops bookings book`; unset: looked up by the API's name.
    api_url: str | None = None

    _every = field_validator("republish_every", mode="before")(lambda v: duration_s(v))

    @field_validator("gateway")
    @classmethod
    def _gateway(cls, value: str) -> str:
        if not _DOTTED.match(value):
            raise ValueError(f"{value!r} is not a dotted path to a class (like package.module.Class)")
        return value

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/") if value else None


_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|min|h)?\s*$")
_UNIT_S = {None: 1, "s": 1, "m": 60, "min": 60, "h": 3600}


def duration_s(value: Any) -> Any:
    """A period as whole seconds: a number of seconds, or text like "30s", "5m", "1h". Anything else is
    passed on for the field's own validation to reject."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a period (seconds, or like 30s, 5m, 1h)")
        return int(match.group(1)) * _UNIT_S[match.group(2)]
    return value


# The stack's function logical names (contract; picops.functions.FUNCTIONS is the table). Here so
# `[deploy.functions.<Logical>]` can be checked without the model.
FUNCTION_LOGICAL_NAMES: tuple[str, ...] = LOGICAL_NAMES


class FunctionSettings(_Section):
    """`[deploy.functions.<Logical>]`: one function's overrides of the `[deploy]` defaults."""

    timeout_s: int | None = Field(default=None, ge=1, le=900)
    memory_mb: int | None = Field(default=None, ge=128, le=10240)
    reserved_concurrency: int | None = Field(default=None, ge=0)


# The only values CloudWatch Logs' PutRetentionPolicy accepts (anything else is InvalidParameterException).
LOG_RETENTION_DAYS: tuple[int, ...] = (
    *(1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731),
    *(1096, 1827, 2192, 2557, 2922, 3288, 3653),
)


class DeploySettings(_Section):
    runtime: Literal["python3.11", "python3.12", "python3.13"] = "python3.12"
    architecture: Literal["x86_64", "arm64"] = "x86_64"
    memory_mb: int = Field(default=512, ge=128, le=10240)
    timeout_s: int = Field(default=30, ge=1, le=900)
    log_retention_days: int = Field(default=14, ge=1)
    artifacts_bucket: str | None = None
    # The Lambda bundle (picops.provision.bundle): third-party distributions the handlers need; a bare name
    # is pinned to the version installed next to picops. boto3 & co. come with the Lambda runtime.
    # pillow-heif (libheif with libde265) reads HEIC; Pillow's own wheel carries libwebp and libavif.
    # aws-xray-sdk: Powertools' Tracer, built at every handler's import, imports it. isal: PNG's inflate.
    dependencies: tuple[str, ...] = (
        "pydantic",
        "pydantic-settings",
        "aws-lambda-powertools",
        "aws-xray-sdk",
        "pillow",
        "pillow-heif",
        "isal",
    )
    dependency_source: Literal["auto", "pip", "environment"] = "auto"
    find_links: str | None = Field(default=None, description="local wheel directory; pip runs --no-index")
    cache_dir: str | None = Field(
        default=None, description="default: <PICOPS_STATE_DIR or .picops>/bundle-cache"
    )
    # Lambda's limits; lowering them makes the bundle go through artifacts_bucket (or fail) sooner.
    direct_upload_limit_mb: int = Field(default=50, ge=1, le=50)
    unzipped_limit_mb: int = Field(default=250, ge=1, le=250)
    # Per-function overrides, keyed by logical name (`[deploy.functions.ModerationSweepFunction]`).
    functions: dict[str, FunctionSettings] = Field(default_factory=dict)

    @field_validator("functions")
    @classmethod
    def _functions(cls, value: dict[str, FunctionSettings]) -> dict[str, FunctionSettings]:
        # Environment variables arrive lower-cased (PICOPS_DEPLOY__FUNCTIONS__PAYMENTFUNCTION__...): a
        # logical name is matched regardless of case and kept in its own spelling.
        by_folded = {name.lower(): name for name in FUNCTION_LOGICAL_NAMES}
        unknown = sorted(name for name in value if name.lower() not in by_folded)
        if unknown:
            raise ValueError(
                f"unknown function {', '.join(unknown)} (expected one of {', '.join(FUNCTION_LOGICAL_NAMES)})"
            )
        resolved: dict[str, FunctionSettings] = {}
        # The file's spelling first, then the environment's folded one, whose values win as they do for
        # every other setting.
        for name, settings in sorted(value.items(), key=lambda item: item[0] != by_folded[item[0].lower()]):
            logical = by_folded[name.lower()]
            earlier = resolved.get(logical)
            if earlier is not None:
                settings = earlier.model_copy(update=settings.model_dump(exclude_unset=True))
            resolved[logical] = settings
        return resolved

    @field_validator("log_retention_days")
    @classmethod
    def _retention_cloudwatch_accepts(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            allowed = ", ".join(str(days) for days in LOG_RETENTION_DAYS)
            raise ValueError(f"CloudWatch Logs keeps logs for one of {allowed} days, not {value}")
        return value


class DlqRedriveSettings(_Section):
    # How often the stack redrives this DLQ into its source queue by itself (`<DLQ>RedriveSchedule`):
    # seconds, or "30s", "5m", "1h"; 0 (the default) leaves it to `picops dlq redrive`.
    auto_redrive_every: int = Field(default=0, ge=0, le=86_400)
    # The rate cap of each run (messages per second) and the most one run moves.
    redrive_rate: float = Field(default=10.0, gt=0, le=3000)
    redrive_max: int = Field(default=1000, ge=1, le=100_000)

    _every = field_validator("auto_redrive_every", mode="before")(lambda v: duration_s(v))


class DlqSettings(_Section):
    """`[dlq.<Logical>]`, one table per DLQ of a queue (a schedule's SweepDLQ holds invocation records, which
    have no queue to go back to)."""

    IngestDLQ: DlqRedriveSettings = DlqRedriveSettings()
    InventoryDLQ: DlqRedriveSettings = DlqRedriveSettings()
    PaymentDLQ: DlqRedriveSettings = DlqRedriveSettings()

    def scheduled(self) -> dict[str, DlqRedriveSettings]:
        """The DLQs with an auto-redrive schedule, by logical name."""
        return {name: getattr(self, name) for name in REDRIVE_DLQS if getattr(self, name).auto_redrive_every}


# The DLQs `[dlq.<Logical>]` may configure (tests keep them equal to the stack's queue DLQs).
REDRIVE_DLQS: tuple[str, ...] = ("IngestDLQ", "InventoryDLQ", "PaymentDLQ")


class LocalSettings(_Section):
    """Strict local mode (docs/security.md): the local endpoint refuses what AWS would."""

    # Every call on a local endpoint is authorised: the CLI's against the operator policy
    # (`provision --print-policy`), a handler's against its role's policies as the endpoint holds them.
    enforce_iam: bool = True
    # Request values outside what AWS accepts (lengths, ranges, enums, FIFO ids, retention days...) are
    # refused as AWS refuses them.
    enforce_limits: bool = True
    # `picops local run`'s faults when --faults is not given (docs/local.md, "Faults"), and their seed.
    faults: str = ""
    seed: int = 0


class ObservabilitySettings(_Section):
    """What the stack records about its own runs beyond logs and metrics (docs/operating.md, "Tracing")."""

    # Active X-Ray tracing on every function (TracingConfig: Active, with the X-Ray grants it needs).
    tracing: bool = False


class Settings(_Section):
    """Every setting picops reads. Sections mirror the TOML file's tables.

    A plain model: `load_settings` fills it from flags, the environment and the TOML file through
    pydantic-settings (imported only then); `settings_from_env`, what a Lambda calls at cold start, reads the
    environment itself (`env_sections`), because importing pydantic-settings costs more than the handler
    needs (bench/startup.py). tests/unit/test_config.py keeps the two readings of the environment equal.
    """

    aws: AwsSettings = AwsSettings()
    stack: StackSettings = StackSettings()
    ingest: IngestSettings = IngestSettings()
    moderation: ModerationSettings = ModerationSettings()
    bookings: BookingsSettings = BookingsSettings()
    deploy: DeploySettings = DeploySettings()
    dlq: DlqSettings = DlqSettings()
    local: LocalSettings = LocalSettings()
    observability: ObservabilitySettings = ObservabilitySettings()


if TYPE_CHECKING:
    from pydantic_settings import BaseSettings


@functools.cache
def _sourced_settings() -> type[BaseSettings]:
    """`Settings` read through pydantic-settings: flags > shortcut env > PICOPS_<SECTION>__<KEY> > TOML."""
    from pydantic_settings import (
        BaseSettings,
        EnvSettingsSource,
        PydanticBaseSettingsSource,
        SettingsConfigDict,
        TomlConfigSettingsSource,
    )

    class SectionEnvSource(EnvSettingsSource):
        """PICOPS_<SECTION>__<KEY> variables. `PICOPS_STACK` is the short form of stack.name, not the JSON
        of the whole [stack] section, so plain section-named variables are left to the shortcut source."""

        def _load_env_vars(self) -> Mapping[str, str | None]:
            sections = {f"picops_{name}" for name in self.settings_cls.model_fields}
            return {k: v for k, v in super()._load_env_vars().items() if k.lower() not in sections}

    class ShortcutEnvSource(PydanticBaseSettingsSource):
        def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
            return None, field_name, False

        def __call__(self) -> dict[str, Any]:
            return _shortcuts(os.environ)

    class TomlSource(TomlConfigSettingsSource):
        """pydantic-settings' TOML source, with errors that name the file (exit 2) instead of tracebacks."""

        def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
            return read_toml(Path(str(file_path)))

    class SourcedSettings(Settings, BaseSettings):
        model_config = SettingsConfigDict(
            env_prefix="PICOPS_", env_nested_delimiter="__", extra="forbid", frozen=True
        )

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            toml_file = settings_cls.model_config.get("toml_file")
            sources = [init_settings, ShortcutEnvSource(settings_cls), SectionEnvSource(settings_cls)]
            if isinstance(toml_file, str | Path):
                sources.append(TomlSource(settings_cls, toml_file=Path(toml_file)))
            return tuple(sources)

    return SourcedSettings


def _shortcuts(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, dict[str, Any]] = {}
    for env_name, (section, key) in ENV_SHORTCUTS.items():
        value = environ.get(env_name)
        if value:
            out.setdefault(section, {})[key] = value
    return dict(out)


def _members(annotation: Any) -> tuple[Any, ...]:
    """The members of a union (`X | None` -> (X, None)), else the annotation alone."""
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


def _is_complex(annotation: Any) -> bool:
    """Whether pydantic-settings reads this field's variable as JSON (a model, a collection)."""
    for member in _members(annotation):
        origin = get_origin(member) or member
        if isinstance(origin, type) and (issubclass(origin, BaseModel) or origin in (list, tuple, set, dict)):
            return True
    return False


def _child(annotation: Any, key: str) -> Any:
    """The annotation of `key` inside a model or a dict's values (None when there is none)."""
    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            field = member.model_fields.get(key)
            return field.annotation if field is not None else None
        if get_origin(member) is dict:
            return get_args(member)[1]
    return None


def env_sections(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings the environment sets, as pydantic-settings' reading of it gives them: PICOPS_<SECTION>__
    <KEY>[__<KEY>...] (names case-insensitive, JSON for models and collections), the shortcuts on top."""
    out: dict[str, Any] = {}
    for name, value in environ.items():
        parts = name.lower().split("__")
        section = parts[0].removeprefix("picops_")
        if len(parts) < 2 or not parts[0].startswith("picops_") or section not in Settings.model_fields:
            continue
        annotation: Any = Settings.model_fields[section].annotation
        target = out.setdefault(section, {})
        for key in parts[1:-1]:
            annotation = _child(annotation, key)
            target = target.setdefault(key, {})
        annotation = _child(annotation, parts[-1])
        target[parts[-1]] = _decoded(value) if _is_complex(annotation) else value
    for section, values in _shortcuts(environ).items():
        out.setdefault(section, {}).update(values)
    return out


def _decoded(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value  # validation names the field and what it wanted


def state_dir() -> Path:
    """Where picops keeps its local state: `PICOPS_STATE_DIR`, else `./.picops` (read on every call, so a
    changed environment is honoured)."""
    return Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None


def resolve_config_path(explicit: str | Path | None) -> Path | None:
    """`--config PATH` or PICOPS_CONFIG, else ./picops.toml when present, else no file."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("PICOPS_CONFIG")
    if env:
        return Path(env)
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def load_settings(
    config_path: str | Path | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    use_files: bool = True,
) -> Settings:
    """Build Settings. `overrides` are flag values, `{section: {key: value}}`; None values are dropped."""
    flags: dict[str, dict[str, Any]] = {}
    for section, values in (overrides or {}).items():
        kept = {k: v for k, v in values.items() if v is not None}
        if kept:
            flags[section] = kept
    path = resolve_config_path(config_path) if use_files else None
    if path is not None:
        read_toml(path)  # fail early, naming the file, if it is missing or not TOML
    cls = _sourced_settings()
    if path is not None:
        cls = type("FileSettings", (cls,), {"model_config": {**cls.model_config, "toml_file": path}})
    try:
        loaded = cls(**flags)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path, flags)) from None
    # The plain model, with the sections as read (each keeps which of its fields were set).
    return Settings.model_construct(
        _fields_set=loaded.model_fields_set, **{name: getattr(loaded, name) for name in Settings.model_fields}
    )


def settings_from_env() -> Settings:
    """What a Lambda uses: environment variables only, no files (and no pydantic-settings: see Settings)."""
    try:
        return Settings.model_validate(env_sections(os.environ))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, None, {})) from None


def _describe(exc: ValidationError, path: Path | None, flags: Mapping[str, Mapping[str, Any]]) -> str:
    lines = ["invalid configuration:"]
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        key = ".".join(loc)
        lines.append(f"  {key}: {err['msg']} (from {_origin(loc, path, flags)})")
    return "\n".join(lines)


def _origin(loc: list[str], path: Path | None, flags: Mapping[str, Mapping[str, Any]]) -> str:
    """Name where a bad value came from, in precedence order, so the user knows what to fix."""
    if len(loc) >= 2 and loc[1] in flags.get(loc[0], {}):
        return "command-line flag"
    long_env = "PICOPS_" + "__".join(part.upper() for part in loc[:2])
    if long_env in os.environ:
        return f"environment variable {long_env}"
    for env_name, target in ENV_SHORTCUTS.items():
        if tuple(loc[:2]) == target and os.environ.get(env_name):
            return f"environment variable {env_name}"
    if path is not None:
        return f"config file {path}, key [{loc[0]}] {'.'.join(loc[1:]) or ''}".rstrip()
    return "defaults"
