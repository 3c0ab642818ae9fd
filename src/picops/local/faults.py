"""Faults on demand for `picops local run --faults SPEC` (docs/local.md, "Faults").

What a pipeline's guarantees are about (a duplicate delivery, a crash between the handler's writes and the
ack, a throttled mapping, a slow or failing AWS call) is made to happen here, at a rate, so the invariants
can be checked on the running system. Every decision is drawn from the seed and what is being decided on
(the batch's place in its mapping's sequence, the call's place in its batch), not from one shared random
stream that concurrent workers would consume in a different order each run: with the same `--seed` the
nth batch of each mapping meets the same faults. Which messages the nth batch holds depends on timing
(what had arrived when it was received), so a replay is exact for a serial run of the same inputs.

SPEC is comma-separated `name=value`:
  duplicate=P       a handled batch is delivered again (not deleted; visible again at once)
  reorder=P         a batch's records are shuffled; on a FIFO queue whole message groups move, never the
                    messages within one
  throttle=P        the invocation is throttled (as past reserved concurrency): the batch goes back
  crash=P           the handler runs (its writes happen), then the runtime dies before the ack: the
                    result is lost and the whole batch comes back
  slow=P[:MS]       a handler's AWS call waits MS milliseconds first (default 200)
  error=SVC.Op:P[:CODE]   a handler's call of that operation fails with CODE (default
                    InternalServerError, HTTP 500); repeatable, e.g. error=dynamodb.TransactWriteItems:0.1
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from picops.errors import UsageError

BATCH_FAULTS = ("duplicate", "reorder", "throttle", "crash")
DEFAULT_SLOW_MS = 200
DEFAULT_ERROR_CODE = "InternalServerError"


@dataclass(frozen=True)
class InjectedError:
    service: str  # botocore's service id, hyphenised (dynamodb, s3, sqs)
    operation: str  # TransactWriteItems
    rate: float
    code: str = DEFAULT_ERROR_CODE


@dataclass(frozen=True)
class FaultSpec:
    rates: Mapping[str, float] = field(default_factory=dict)  # BATCH_FAULTS and "slow"
    slow_ms: int = DEFAULT_SLOW_MS
    errors: tuple[InjectedError, ...] = ()
    seed: int = 0

    @property
    def active(self) -> bool:
        return any(self.rates.values()) or bool(self.errors)

    def describe(self) -> str:
        parts = [f"{k}={v:g}" for k, v in self.rates.items() if v]
        parts += [f"error={e.service}.{e.operation}:{e.rate:g}:{e.code}" for e in self.errors]
        return ",".join(parts) + f" (seed {self.seed})"


def _rate(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise UsageError(f"--faults {name}={text!r}: a rate is a number from 0 to 1")
    return value


def parse_faults(text: str, *, seed: int = 0) -> FaultSpec:
    """SPEC (module docstring) -> FaultSpec; UsageError naming the part that is wrong."""
    rates: dict[str, float] = {}
    slow_ms = DEFAULT_SLOW_MS
    errors: list[InjectedError] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep:
            raise UsageError(f"--faults {part!r}: write name=value (e.g. duplicate=0.1)")
        if name in BATCH_FAULTS:
            rates[name] = _rate(name, value)
        elif name == "slow":
            rate, _, ms = value.partition(":")
            rates["slow"] = _rate(name, rate)
            if ms and (not ms.isdigit() or int(ms) > 60_000):
                raise UsageError(f"--faults slow={value!r}: the delay is whole milliseconds, at most 60000")
            slow_ms = int(ms) if ms else DEFAULT_SLOW_MS
        elif name == "error":
            errors.append(_error(value))
        else:
            known = ", ".join((*BATCH_FAULTS, "slow", "error"))
            raise UsageError(f"--faults: unknown fault {name!r} (known: {known})")
    return FaultSpec(rates, slow_ms, tuple(errors), seed)


def _error(value: str) -> InjectedError:
    target, _, rest = value.partition(":")
    service, dot, operation = target.partition(".")
    rate, _, code = rest.partition(":")
    if not dot or not service or not operation or not rest:
        raise UsageError(f"--faults error={value!r}: write error=SERVICE.Operation:RATE[:CODE]")
    return InjectedError(service.lower(), operation, _rate("error", rate), code or DEFAULT_ERROR_CODE)


class _Call:
    """The invocation a handler's AWS call belongs to: its key and how many calls it has made."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.calls: Counter[str] = Counter()


_INVOCATION: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("picops_fault_call", default=None)


class _HttpStatus:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}


def batch_key(records: Sequence[Mapping[str, Any]]) -> str:
    """What a batch is, independent of run-specific ids: its bodies and how often each was received."""
    digest = hashlib.sha256()
    for r in records:
        digest.update(str(r.get("body", "")).encode())
        digest.update(str((r.get("attributes") or {}).get("ApproximateReceiveCount", "")).encode())
    return digest.hexdigest()[:16]


class Faults:
    """Draws and counts the faults of one run (`summary()["faults"]`)."""

    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def chance(self, kind: str, key: str, rate: float | None = None) -> bool:
        p = self.spec.rates.get(kind, 0.0) if rate is None else rate
        if p <= 0.0:
            return False
        hit = random.Random(f"{self.spec.seed}:{kind}:{key}").random() < p
        if hit:
            with self._lock:
                self.counts[kind] += 1
        return hit

    def reorder(self, records: list[dict[str, Any]], key: str, *, fifo: bool) -> list[dict[str, Any]]:
        """The batch shuffled (FIFO: groups shuffled as blocks, order within each group kept)."""
        if len(records) < 2 or not self.chance("reorder", key):
            return records
        rng = random.Random(f"{self.spec.seed}:order:{key}")
        if not fifo:
            shuffled = list(records)
            rng.shuffle(shuffled)
            return shuffled
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in records:
            groups.setdefault(str((r.get("attributes") or {}).get("MessageGroupId", "")), []).append(r)
        order = list(groups)
        rng.shuffle(order)
        return [r for g in order for r in groups[g]]

    @contextlib.contextmanager
    def invocation(self, key: str) -> Iterator[None]:
        """The handler's AWS calls made in this block draw their faults from `key`."""
        token = _INVOCATION.set(_Call(key))
        try:
            yield
        finally:
            _INVOCATION.reset(token)

    def install(self, client: Any, factory: Any) -> None:
        """A ClientInstaller for the handlers' clients: slow calls and injected errors."""
        if self.spec.rates.get("slow") or self.spec.errors:
            client.meta.events.register("before-call.*.*", self._before_call)

    def _before_call(self, model: Any, **_: Any) -> Any:
        call = _INVOCATION.get()
        if call is None:
            return None  # not a handler's call inside a batch (the runtime's own, or the API's)
        service = model.service_model.service_id.hyphenize()
        operation = model.name
        call.calls[operation] += 1
        where = f"{call.key}:{service}.{operation}:{call.calls[operation]}"
        if self.chance("slow", where):
            time.sleep(self.spec.slow_ms / 1000)
        for error in self.spec.errors:
            if (
                error.service == service
                and error.operation == operation
                and self.chance(f"error:{service}.{operation}", where, error.rate)
            ):
                return _HttpStatus(500), {
                    "Error": {"Code": error.code, "Message": "injected by `picops local run --faults`"},
                    "ResponseMetadata": {"HTTPStatusCode": 500},
                }
        return None

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {"spec": self.spec.describe(), "seed": self.spec.seed, **dict(sorted(self.counts.items()))}
