"""The guard strict local mode puts on every client made for a loopback endpoint: before a request leaves,
it is authorised as AWS would authorise it, and refused with the error AWS would answer.

The principal is who makes the call. The CLI is the operator: its calls are authorised against the policy
`picops provision --print-policy` prints for the stack. A handler run by the local runtime or `picops invoke`
acts with its function's role: the runtime wraps each invocation in `acting_as(function_name)`, and the
guard reads that function's role and the role's policies from the endpoint (what provision put there, so a
policy edited on the endpoint takes effect, as on AWS). Handlers run one at a time per process, so the
principal travels in a context variable, not in credentials.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import botocore.exceptions

from picops.strict.actions import (
    UNAUTHORISED,
    Need,
    Request,
    UnknownOperation,
    context_of,
    leading_keys,
    needs,
    table_of,
)
from picops.strict.limits import check_request
from picops.strict.policy import Check, Decision, evaluate

# The function whose role the current call acts with (None: the operator, i.e. the CLI).
_acting_function: contextvars.ContextVar[str | None] = contextvars.ContextVar("picops_acting", default=None)
# Shard iterators remembered (each lives 15 minutes on AWS; a runtime holds one per shard at a time).
MAX_ITERATORS = 10_000
# How long a role's policies read from the endpoint are reused: an edit takes effect within this.
POLICY_TTL_S = 1.0
# JSON-protocol services answer AccessDeniedException; query/XML ones (S3, SQS, SNS, IAM...) AccessDenied.
_EXCEPTION_CODE_PROTOCOLS = ("json", "rest-json")


@contextlib.contextmanager
def acting_as(function_name: str) -> Iterator[None]:
    token = _acting_function.set(function_name)
    try:
        yield
    finally:
        _acting_function.reset(token)


@contextlib.contextmanager
def as_operator() -> Iterator[None]:
    """The runtime's own bookkeeping (stream checkpoints) inside a function's polling: the CLI's calls."""
    token = _acting_function.set(None)
    try:
        yield
    finally:
        _acting_function.reset(token)


@dataclass
class Principal:
    arn: str
    policies: list[Mapping[str, Any]]


@dataclass(frozen=True)
class Observed:
    """One authorised (action, resource) and who it was authorised for, as a recording keeps it."""

    principal: str
    policies: tuple[str, ...]  # the principal's policy documents, as JSON text (hashable, comparable)
    action: str
    resource: str
    context: tuple[tuple[str, tuple[str, ...]], ...]
    operation: str  # `service:Operation` of the request that needed it

    @property
    def check(self) -> Check:
        return Check(self.action, self.resource, {k: list(v) for k, v in self.context})


class Recording:
    """Every check the guards allow while it is active (see `recording`): what the least-privilege proof
    replays against each policy with one grant removed (strict/necessity.py)."""

    def __init__(self) -> None:
        self.observed: set[Observed] = set()
        self.label = ""  # what the caller is doing now (a command), kept per check in `by_label`
        self.by_label: dict[str, set[Observed]] = collections.defaultdict(set)
        self._lock = threading.Lock()

    def add(self, observed: Observed) -> None:
        with self._lock:
            self.observed.add(observed)
            self.by_label[self.label].add(observed)


_recordings: list[Recording] = []
_recordings_lock = threading.Lock()


@contextlib.contextmanager
def recording() -> Iterator[Recording]:
    """Keep every check any guard of this process allows (the runtime's handler threads included)."""
    active = Recording()
    with _recordings_lock:
        _recordings.append(active)
    try:
        yield active
    finally:
        with _recordings_lock:
            _recordings.remove(active)


def _observe(principal: Principal, check: Check, request: Request) -> None:
    if not _recordings:
        return
    documents = tuple(json.dumps(p, sort_keys=True) for p in principal.policies)
    context = tuple(sorted((k, tuple(v)) for k, v in check.context.items()))
    observed = Observed(
        principal.arn,
        documents,
        check.action,
        check.resource,
        context,
        f"{request.service}:{request.operation}",
    )
    with _recordings_lock:
        for active in _recordings:
            active.add(observed)


@dataclass
class Tally:
    """What the guard decided, for the runtime's summary."""

    checked: int = 0
    denied: int = 0
    denials: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    refused_values: int = 0

    def refuse_value(self, what: str) -> None:
        with self.lock:
            self.refused_values += 1
            if len(self.denials) < 20:
                self.denials.append(what)

    def record(self, denied: str | None) -> None:
        with self.lock:
            self.checked += 1
            if denied is not None:
                self.denied += 1
                if len(self.denials) < 20:
                    self.denials.append(denied)


class Guard:
    """Authorises every request of the clients it is installed on (see the module docstring)."""

    def __init__(
        self,
        *,
        operator_policy: Callable[[], Mapping[str, Any]],
        operator_arn: Callable[[], str],
        read_role: Callable[[str], Principal],
        account: Callable[[], str],
        iam: bool = True,
        limits: bool = True,
        table_key: Callable[[str], str | None] = lambda table: None,
    ) -> None:
        self.iam = iam
        self.limits = limits
        self._operator_policy = operator_policy
        self._operator_arn = operator_arn
        self._read_role = read_role
        self._account = account
        self._table_key = table_key
        self._operator: Principal | None = None
        self._roles: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()
        self.tally = Tally()
        # Shard iterator -> its stream's ARN: AWS reads the stream from the iterator itself (its iterators
        # begin with the ARN); the local endpoint's are opaque, so the guard remembers what it handed out.
        self._iterators: collections.OrderedDict[str, str] = collections.OrderedDict()

    def install(self, client: Any, factory: Any) -> None:
        region = client.meta.region_name

        def before_call(model: Any, context: dict[str, Any], **_: Any) -> None:
            self._before_call(model, context, region)

        events = client.meta.events
        events.register("before-parameter-build.*.*", _keep_params, unique_id="picops-strict-params")
        events.register("before-call.*.*", before_call, unique_id="picops-strict-iam")
        events.register(
            "after-call.dynamodbstreams.*", self._remember_iterators, unique_id="picops-strict-iter"
        )

    def _remember_iterators(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        params = context.get(_PARAMS_KEY, {})
        stream = params.get("StreamArn") or self._iterators.get(str(params.get("ShardIterator")))
        given = (
            parsed.get("ShardIterator") or parsed.get("NextShardIterator")
            if isinstance(parsed, dict)
            else None
        )
        if stream and given:
            with self._lock:
                self._iterators[str(given)] = str(stream)
                while len(self._iterators) > MAX_ITERATORS:
                    self._iterators.popitem(last=False)

    def principal(self) -> Principal:
        function = _acting_function.get()
        if function is None:
            with self._lock:
                if self._operator is None:
                    self._operator = Principal(self._operator_arn(), [self._operator_policy()])
                return self._operator
        with self._lock:
            cached = self._roles.get(function)
            if cached is not None and time.monotonic() - cached[0] < POLICY_TTL_S:
                return cached[1]
        try:
            principal = self._read_role(function)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            # Without its role there is nothing to authorise the function's calls against: refuse them,
            # saying why, rather than let them through.
            response: Any = {
                "Error": {
                    "Code": "AccessDenied",
                    "Message": f"strict local mode cannot read the role of function {function} from the "
                    f"endpoint ({exc}); provision the stack, or set [local] enforce_iam = false",
                },
                "ResponseMetadata": {"HTTPStatusCode": 403},
            }
            raise botocore.exceptions.ClientError(response, "AssumeRole") from None
        with self._lock:
            self._roles[function] = (time.monotonic(), principal)
        return principal

    def _before_call(self, model: Any, context: dict[str, Any], region: str) -> None:
        service = model.service_model
        if self.limits:
            try:
                check_request(model, context.get(_PARAMS_KEY, {}))
            except botocore.exceptions.ClientError as exc:
                self.tally.refuse_value(f"{service.service_name}:{model.name} {exc}")
                raise
        if not self.iam or (service.service_name, model.name) in UNAUTHORISED:
            return  # answered for anyone (and how the account is learnt: no principal needed)
        params = context.get(_PARAMS_KEY, {})
        if "ShardIterator" in params and "StreamArn" not in params:
            stream = self._iterators.get(str(params["ShardIterator"]))
            params = {**params, **({"StreamArn": stream} if stream else {})}
        request = Request(
            service=service.service_name,
            operation=model.name,
            params=params,
            region=region,
            account=self._account(),
            http_method=model.http.get("method", ""),
            request_uri=model.http.get("requestUri", ""),
        )
        self.authorise(request, protocol=service.protocol)

    def _key_context(self, request: Request, need: Need) -> dict[str, list[str]]:
        table = table_of(need.resource) if need.action.startswith("dynamodb:") else None
        hash_key = self._table_key(table) if table else None
        keys = leading_keys(request, table, hash_key) if table and hash_key else []
        return {"dynamodb:LeadingKeys": keys} if keys else {}

    def authorise(self, request: Request, *, protocol: str = "query") -> None:
        try:
            required = needs(request)
        except UnknownOperation as exc:
            self.tally.record(str(exc))
            raise _denied(request, str(exc), protocol) from None
        principal = self.principal()
        conditions = context_of(request)
        for need in required:
            check = Check(need.action, need.resource, {**conditions, **self._key_context(request, need)})
            if evaluate(principal.policies, check) is not Decision.ALLOW:
                message = _message(principal.arn, need)
                self.tally.record(f"{request.service}:{request.operation} {message}")
                raise _denied(request, message, protocol)
            _observe(principal, check, request)
        self.tally.record(None)


_PARAMS_KEY = "picops_strict_params"


def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context[_PARAMS_KEY] = dict(params)


def summary_of(guard: Guard | None) -> dict[str, Any]:
    """What strict mode did in a run, for `--json` (no guard: local mode off, or not a local endpoint)."""
    tally = guard.tally if guard is not None else Tally()
    return {
        "enforced": guard is not None and guard.iam,
        "limits_enforced": guard is not None and guard.limits,
        "checked": tally.checked,
        "denied": tally.denied,
        "refused_values": tally.refused_values,
        "denials": list(tally.denials),
    }


def _message(principal: str, need: Need) -> str:
    return f"User: {principal} is not authorized to perform: {need.action} on resource: {need.resource}"


def _denied(request: Request, message: str, protocol: str) -> botocore.exceptions.ClientError:
    code = "AccessDeniedException" if protocol in _EXCEPTION_CODE_PROTOCOLS else "AccessDenied"
    response: Any = {
        "Error": {"Code": code, "Message": f"{message} (strict local mode)"},
        "ResponseMetadata": {"HTTPStatusCode": 403},
    }
    return botocore.exceptions.ClientError(response, request.operation)


def endpoint_role_reader(session: Any, endpoint_url: str, region: str) -> Callable[[str], Principal]:
    """Reads a function's role and the role's inline and attached policies from the endpoint, with clients
    the guard is not installed on (the guard's own reads are not the principal's)."""
    lam = session.client("lambda", endpoint_url=endpoint_url, region_name=region)
    iam = session.client("iam", endpoint_url=endpoint_url, region_name=region)

    def read(function_name: str) -> Principal:
        role_arn = lam.get_function_configuration(FunctionName=function_name)["Role"]
        role = role_arn.rsplit("/", 1)[-1]
        policies: list[Mapping[str, Any]] = []
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
            for name in page["PolicyNames"]:
                document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
                policies.append(_document(document))
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
            for attached in page["AttachedPolicies"]:
                arn = attached["PolicyArn"]
                version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
                document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"][
                    "Document"
                ]
                policies.append(_document(document))
        session_arn = (
            role_arn.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/") + f"/{function_name}"
        )
        return Principal(session_arn, policies)

    return read


def endpoint_table_keys(session: Any, endpoint_url: str, region: str) -> Callable[[str], str | None]:
    """Each table's partition-key attribute, read once from the endpoint (dynamodb:LeadingKeys needs it)."""
    dynamodb = session.client("dynamodb", endpoint_url=endpoint_url, region_name=region)
    known: dict[str, str | None] = {}
    lock = threading.Lock()

    def key_of(table: str) -> str | None:
        with lock:
            if table in known:
                return known[table]
        try:
            schema = dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            return None  # not there (yet): the request itself will say so
        hash_key = next((k["AttributeName"] for k in schema if k["KeyType"] == "HASH"), None)
        with lock:
            known[table] = hash_key
        return hash_key

    return key_of


def _document(document: Any) -> Mapping[str, Any]:
    if isinstance(document, str):
        parsed: Mapping[str, Any] = json.loads(unquote(document))
        return parsed
    return dict(document)


def guard_for(settings: Any, factory: Any) -> Guard:
    """The guard for a CLI run on a local endpoint: the operator policy of `settings`' stack, and each
    function's role as the endpoint holds it."""
    from picops.stack.build import build_model
    from picops.stack.operator_policy import operator_policy

    def policy() -> Mapping[str, Any]:
        model = build_model(settings, factory.account_id(), factory.region, local=True)
        return operator_policy(model, inventory_bucket=settings.moderation.inventory_bucket)

    return Guard(
        iam=settings.local.enforce_iam,
        limits=settings.local.enforce_limits,
        operator_policy=policy,
        operator_arn=lambda: f"arn:aws:iam::{factory.account_id()}:user/picops-operator",
        read_role=endpoint_role_reader(factory.session, factory.endpoint_url, factory.region),
        account=factory.account_id,
        table_key=endpoint_table_keys(factory.session, factory.endpoint_url, factory.region),
    )


__all__ = [
    "Guard",
    "Observed",
    "Principal",
    "Recording",
    "Tally",
    "acting_as",
    "as_operator",
    "endpoint_role_reader",
    "endpoint_table_keys",
    "guard_for",
    "recording",
    "summary_of",
]
