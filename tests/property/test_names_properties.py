"""Physical names and ARNs over stack names, regions, partitions and accounts (Hypothesis): every name is
valid for its service, none collides across regions, and every ARN is in the region's partition."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from picops.config import Settings
from picops.stack.build import build_model
from picops.stack.model import (
    Alarm,
    Bucket,
    FunctionSpec,
    HttpApi,
    LogGroup,
    Queue,
    Role,
    ScheduleRule,
    StackModel,
    Table,
    Topic,
)
from picops.stack.names import bounded_name, partition_of

REGIONS = [
    "us-east-1",
    "us-east-2",
    "eu-west-1",
    "ap-southeast-4",
    "ap-northeast-3",
    "me-central-1",
    "il-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "us-gov-west-1",
    "us-gov-east-1",
]
stack_names = st.from_regex(r"\A[a-z][a-z0-9-]{0,30}[a-z0-9]\Z")
accounts = st.from_regex(r"\A[0-9]{12}\Z")
regions = st.sampled_from(REGIONS)

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_QUEUE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_FUNCTION = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ROLE = re.compile(r"^[\w+=,.@-]{1,64}$")
_RULE = re.compile(r"^[.\-_A-Za-z0-9]{1,64}$")


def _model(stack: str, account: str, region: str) -> StackModel:
    return build_model(Settings(stack={"name": stack}), account, region)  # type: ignore[arg-type]


def _problems(model: StackModel) -> list[str]:
    problems = []
    for r in model:
        name = r.name
        if isinstance(r, Bucket):
            ok = bool(_BUCKET.match(name)) and ".." not in name and not _is_ip(name)
        elif isinstance(r, Queue):
            base = name.removesuffix(".fifo") if r.fifo else name
            ok = bool(_QUEUE.match(base)) and len(name) <= 80 and name.endswith(".fifo") == r.fifo
        elif isinstance(r, Topic):
            ok = bool(_TOPIC.match(name.removesuffix(".fifo"))) and len(name) <= 256
        elif isinstance(r, Table):
            ok = bool(_TABLE.match(name))
        elif isinstance(r, FunctionSpec):
            ok = bool(_FUNCTION.match(name))
        elif isinstance(r, Role):
            ok = bool(_ROLE.match(name))
        elif isinstance(r, ScheduleRule):
            ok = bool(_RULE.match(name))
        elif isinstance(r, LogGroup):
            ok = 1 <= len(name) <= 512
        elif isinstance(r, Alarm):
            ok = 1 <= len(name) <= 255
        elif isinstance(r, HttpApi):
            ok = 1 <= len(name) <= 128
        else:
            continue
        if not ok:
            problems.append(f"{r.logical}: {name!r} ({len(name)} characters)")
    return problems


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _arns(value: Any) -> list[str]:
    if isinstance(value, str):
        return re.findall(r"arn:[^\s\"',]+", value)
    if isinstance(value, dict):
        return [a for v in value.values() for a in _arns(v)]
    if isinstance(value, list | tuple):
        return [a for v in value for a in _arns(v)]
    return []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack=stack_names, account=accounts, region=regions)
def test_every_physical_name_is_valid_for_its_service(stack: str, account: str, region: str) -> None:
    assert _problems(_model(stack, account, region)) == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack=stack_names, account=accounts, pair=st.lists(regions, min_size=2, max_size=2, unique=True))
def test_global_names_never_collide_across_regions(stack: str, account: str, pair: list[str]) -> None:
    """Buckets (S3 is global) and roles (IAM is global) of two regional copies of one stack differ."""
    first, second = (_model(stack, account, region) for region in pair)
    for kind in (Bucket, Role):
        names_a = {r.name for r in first.of_type(kind)}
        names_b = {r.name for r in second.of_type(kind)}
        assert not names_a & names_b, (kind.__name__, names_a & names_b)
        assert len(names_a) == len(first.of_type(kind))  # and within one stack, every one is distinct


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack=stack_names, account=accounts, region=regions)
def test_every_arn_the_model_builds_is_in_the_regions_partition(
    stack: str, account: str, region: str
) -> None:
    model = _model(stack, account, region)
    partition = partition_of(region)
    found = []
    for r in model:
        fields = {k: getattr(r, k) for k in getattr(r, "__dataclass_fields__", {})}
        for key in ("document",):
            if isinstance(fields.get(key), str):
                fields[key] = json.loads(fields[key])
        found += _arns(fields)
        found += _arns(r.desired())
    assert found
    wrong = sorted({a for a in found if a.split(":")[1] != partition})
    assert wrong == []


def test_partitions() -> None:
    assert partition_of("us-east-1") == "aws"
    assert partition_of("cn-north-1") == "aws-cn"
    assert partition_of("us-gov-west-1") == "aws-us-gov"


@given(base=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=120))
def test_bounded_names_fit_stay_distinct_and_never_end_in_a_separator(base: str) -> None:
    name = f"a{base}z"
    bounded = bounded_name(name, 63)
    assert len(bounded) <= 63
    assert not bounded.endswith(("-", "."))
    if len(name) <= 63:
        assert bounded == name
    else:
        assert bounded != bounded_name(name[:-1] + "y", 63)


def test_long_stack_names_give_distinct_bucket_names_in_neighbouring_regions() -> None:
    """The issue's case: a plain cut at 63 gave us-east-1 and us-east-2 the same bucket."""
    stack = "a" * 31 + "b"
    east1 = _model(stack, "123456789012", "us-east-1").get("ProcessedBucket").name
    east2 = _model(stack, "123456789012", "us-east-2").get("ProcessedBucket").name
    assert east1 != east2
    assert len(east1) <= 63
    assert len(east2) <= 63
