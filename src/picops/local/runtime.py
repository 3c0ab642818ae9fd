"""`picops local run`: the local runtime that plays Lambda's part on a local endpoint (docs/local.md).

moto stores Lambda functions but cannot run them without Docker and never fires EventBridge schedules, so
on a local endpoint provision records the event source mappings (SSM parameters) instead of creating them,
and this runtime owns them: it polls each source as Lambda's pollers do, builds the real event shapes,
invokes the same handlers in-process with their function's environment, and applies Lambda's batch
semantics (`picops.local.batches`). It also fires the SweepSchedule rule on a timer.

No typer or rich here: the CLI (`picops.cli.local`) and the demo drive it, tests too. It refuses any
endpoint that is not loopback: it must never pump real AWS.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.exceptions

from picops.aws import ClientFactory, is_loopback_url, translate_error
from picops.config import Settings
from picops.errors import ResourceMissing, UsageError
from picops.local.events import scheduled_event
from picops.local.faults import Faults, FaultSpec
from picops.local.handler_logs import HandlerLogView
from picops.local.http_api import API_FUNCTION, LocalApi
from picops.local.invoke import (
    FunctionTarget,
    Handler,
    HandlerBroken,
    HandlerUnavailable,
    Invocation,
    Invoker,
)
from picops.local.logfiles import log_dir
from picops.local.mappings import DYNAMODB_STREAM, SQS, MappingRecord, function_target, target_of
from picops.local.routing import AliasRouting
from picops.local.schedules import Schedules
from picops.local.sqs_source import SqsSource
from picops.local.stats import ERROR, SKIPPED, MappingStats, Progress
from picops.local.stream_source import StreamSource
from picops.local.versions import BundleHandler, runtime_dir
from picops.local.watch import Reload, SourceWatcher
from picops.local.workers import serialise_dynamodb
from picops.stack.build import build_model
from picops.stack.local_mappings import local_mapping_parameter, read_local_mappings
from picops.stack.model import FunctionSpec, StackModel, Table
from picops.stack.names import StackNames

SWEEP_FUNCTION = "ModerationSweepFunction"
SWEEP_RULE = "SweepSchedule"
DEFAULT_SWEEP_EVERY_S = 3600.0
# Long-poll wait per SQS receive. Sources are polled in turn by one thread, so this also bounds how long
# one idle queue delays the others.
DEFAULT_WAIT_S = 1
# `--until-idle`: a run ends once every source has stayed empty this long.
IDLE_S = 2.0
IDLE_POLL_S = 0.2
# ChangeMessageVisibilityBatch takes at most 10 entries.
RELEASE_BATCH = 10
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def require_local(factory: ClientFactory) -> str:
    url = factory.endpoint_url
    if not url or not is_loopback_url(url):
        raise UsageError(
            f"picops local run pumps only a local endpoint, not {url or 'AWS'}",
            hint="start one with `picops local up --detach` and pass --local or --endpoint-url http://127.0.0.1:PORT",
        )
    return url


@dataclass(frozen=True)
class _InFlightWait:
    give_up_at: float  # clock time after which messages still in flight mean "not drained"


@dataclass
class SweepStats:
    sweeps: int = 0
    errors: int = 0
    last: dict[str, Any] = field(default_factory=dict)
    detail: str = ""


Source = SqsSource | StreamSource


class LocalRuntime:
    """Serves every recorded mapping of one stack on a local endpoint."""

    def __init__(
        self,
        factory: ClientFactory,
        settings: Settings,
        *,
        progress: Progress = lambda _line: None,
        wait_s: int = DEFAULT_WAIT_S,
        mappings: list[dict[str, Any]] | None = None,
        log_view: HandlerLogView | None = None,
        faults: FaultSpec | None = None,
        watch: SourceWatcher | None = None,
    ) -> None:
        self.endpoint_url = require_local(factory)
        self.factory = factory
        self.settings = settings
        self.progress = progress
        self.wait_s = wait_s
        self._raw_mappings = mappings
        self.log_view = log_view
        self.faults = Faults(faults) if faults is not None and faults.active else None
        # Slow calls and injected errors reach the handlers' clients only, never the runtime's own polls.
        extra: tuple[Any, ...] = (serialise_dynamodb,)
        extra += (self.faults.install,) if self.faults is not None else ()
        self.invoker = Invoker(
            endpoint_url=self.endpoint_url,
            region=factory.region,
            log_dir=log_dir(),
            view=log_view,
            installers=(*factory.installers, *extra),
        )
        self.stats: list[MappingStats] = []
        self.sources: list[tuple[MappingStats, Source]] = []
        self.sweep = SweepStats()
        self.model: StackModel | None = None
        self._sweep_target: FunctionTarget | None = None
        # The other schedule rules (the outbox sweep, ...), made by serve() on its clock.
        self.schedules: Schedules | None = None
        self.api: LocalApi | None = None
        # Alias `live`'s weights during a release: a share of invocations runs as the new version.
        self.routing = AliasRouting(factory.client("lambda"))
        self._routed_handlers: dict[str, Handler] = {}
        # Set by Ctrl-C/SIGTERM (see stop_on_signals): every loop ends at its next check.
        self.stop = threading.Event()
        self._in_invoke = False
        # Receipt handles of the batch a handler is working on, by queue URL: what a stop hands back.
        self._in_hand: dict[int, tuple[str, list[str]]] = {}
        self._batch_ids = itertools.count()
        self.released = 0
        # `--until-idle` gave up on messages that stayed in flight: the queues are not drained.
        self.undrained = False
        # `--watch`: handler code reloaded between batches when its source changes.
        self.watch = watch
        self.reloads: list[Reload] = []

    # -- setup -------------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Read the recorded mappings, resolve each handler, and open each source. A mapping whose handler
        does not exist (yet) is reported once and skipped: its source is never polled, so its messages stay
        untouched."""
        stack = self.settings.stack.name
        raw = self._raw_mappings
        if raw is None:
            raw = read_local_mappings(self.factory.client("ssm"), stack)
        if not raw:
            raise ResourceMissing(
                f"no event source mappings are recorded for stack {stack!r} on {self.endpoint_url}",
                hint="run `picops provision` against this endpoint first",
            )
        self.model = build_model(self.settings, self.factory.account_id(), self.factory.region, local=True)
        for entry in raw:
            record = MappingRecord.parse(entry)
            stats = MappingStats(record.logical, record.source, record.handler)
            self.stats.append(stats)
            self._open(record, stats)

    def _open(self, record: MappingRecord, stats: MappingStats) -> None:
        assert self.model is not None
        try:
            target = function_target(self.model, record)
            handler = self.invoker.load(target)
        except HandlerUnavailable as exc:
            stats.status, stats.detail = SKIPPED, str(exc)
            self.progress(f"{record.logical}: {exc}; mapping skipped, its source is left untouched")
            return
        except HandlerBroken as exc:
            stats.fail(str(exc))
            self.progress(f"{record.logical}: {exc}; mapping skipped")
            return
        try:
            source = self._source(record, target, handler, stats)
        except botocore.exceptions.ClientError as exc:
            error = translate_error(exc, self.endpoint_url)
            stats.fail(f"cannot open {record.source}: {error.message if error else exc}")
            self.progress(f"{record.logical}: {stats.detail}")
            return
        if source is None:
            return
        self.sources.append((stats, source))
        self.progress(f"{record.logical}: {record.source} -> {record.handler}")

    def _source(
        self, record: MappingRecord, target: FunctionTarget, handler: Handler, stats: MappingStats
    ) -> Source | None:
        f = self.factory
        if record.kind == SQS:
            sqs = f.client("sqs")
            source = SqsSource(sqs, record, target, handler, self.invoker.invoke, stats, self.progress)
            source.invoke = self._guarded(source.queue_url)
            source.faults = self.faults
            return source
        if record.kind == DYNAMODB_STREAM:
            return StreamSource(
                f.client("dynamodbstreams"),
                f.client("ssm"),
                f.client("sns"),
                f.client("sqs"),
                stack=self.settings.stack.name,
                mapping=record,
                target=target,
                handler=handler,
                invoke=self._guarded(None),
                stats=stats,
                progress=self.progress,
                created_at=self._recorded_at(record),
                partition_key=self._hash_key(record.source),
            )
        stats.fail(f"unsupported event source {record.source_arn}")
        self.progress(f"{record.logical}: {stats.detail}")
        return None

    def _hash_key(self, logical: str) -> str | None:
        """The table's partition key attribute, by which a parallelised stream keeps records in order."""
        table = self.model.get(logical) if self.model is not None and logical in self.model else None
        return table.hash_key if isinstance(table, Table) else None

    def _recorded_at(self, record: MappingRecord) -> dt.datetime | None:
        """When provision recorded the mapping: where a LATEST stream mapping starts."""
        name = local_mapping_parameter(self.settings.stack.name, record.logical)
        try:
            when = self.factory.client("ssm").get_parameter(Name=name)["Parameter"].get("LastModifiedDate")
        except botocore.exceptions.ClientError:
            return None
        if isinstance(when, dt.datetime):
            return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
        return None

    # -- stopping cleanly ----------------------------------------------------------------------------------

    def _guarded(self, queue_url: str | None) -> Callable[[FunctionTarget, Handler, Any], Invocation]:
        """The invoker, remembering the batch in hand (SQS receipt handles) until the handler returns, so a
        stop can give it back. A batch received after a stop was asked for is not started at all."""

        def invoke(target: FunctionTarget, handler: Handler, event: Any) -> Invocation:
            key = next(self._batch_ids)
            if queue_url is not None:
                self._in_hand[key] = (
                    queue_url,
                    [str(r["receiptHandle"]) for r in event.get("Records", []) if "receiptHandle" in r],
                )
            if self.stop.is_set():
                raise KeyboardInterrupt
            # Only a handler on the main thread can be interrupted by the signal handler itself.
            on_main = threading.current_thread() is threading.main_thread()
            self._in_invoke = self._in_invoke or on_main
            routed = self.routing.pick(target)
            if routed.code_dir or routed.handler != target.handler:
                handler = self._handler_of(routed)
            try:
                result = self.invoker.invoke(routed, handler, event)
            finally:
                if on_main:
                    self._in_invoke = False
            # Returned: the source deletes what succeeded; what failed waits out its visibility timeout,
            # as on Lambda (it counts towards maxReceiveCount).
            self._in_hand.pop(key, None)
            return result

        return invoke

    def _handler_of(self, target: FunctionTarget) -> Handler:
        """The handler of a version routed to: its bundle's, in a process of its own, or the checkout's."""
        key = f"{target.handler}@{target.code_dir}"
        known = self._routed_handlers.get(key)
        if known is None:
            if target.code_dir:
                code = Path(target.code_dir)
                known = BundleHandler(
                    target.handler, code, runtime_dir(self.routing.bundles), target.timeout_s
                )
            else:
                known = self.invoker.load(target)
            self._routed_handlers[key] = known
        return known

    @contextlib.contextmanager
    def stop_on_signals(self) -> Iterator[threading.Event]:
        """Ctrl-C or SIGTERM asks every loop to stop at its next check; during a handler it interrupts the
        handler at once (its batch is then given back by `settle`). A second signal interrupts wherever it
        lands. Outside the main thread (where Python cannot install handlers) nothing is installed."""

        def on_signal(signum: int, _frame: Any) -> None:
            if self.stop.is_set() or self._in_invoke:
                self.stop.set()
                raise KeyboardInterrupt
            self.progress(f"{signal.Signals(signum).name}: stopping after the current poll")
            self.stop.set()

        if threading.current_thread() is not threading.main_thread():
            yield self.stop
            return
        previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
        try:
            yield self.stop
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def settle(self) -> None:
        """After a stop: make the messages in hand visible again at once (ChangeMessageVisibility 0, instead
        of their whole visibility timeout) and save each stream's position."""
        with contextlib.suppress(KeyboardInterrupt):
            # Batches running in workers finish (a handler overrunning is stopped at its timeout); a second
            # Ctrl-C gives them back unfinished.
            for _, source in self.sources:
                if isinstance(source, SqsSource):
                    source.wait_idle()
        sqs = self.factory.client("sqs") if self._in_hand else None
        for queue_url, receipts in list(self._in_hand.values()):
            for start in range(0, len(receipts), RELEASE_BATCH):
                chunk = receipts[start : start + RELEASE_BATCH]
                try:
                    response = sqs.change_message_visibility_batch(  # type: ignore[union-attr]
                        QueueUrl=queue_url,
                        Entries=[
                            {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": 0}
                            for i, r in enumerate(chunk)
                        ],
                    )
                except botocore.exceptions.ClientError as exc:
                    self.progress(f"could not give back {len(chunk)} message(s) to {queue_url}: {exc}")
                    continue
                self.released += len(response.get("Successful", []))
        self._in_hand.clear()
        if self.released:
            self.progress(f"gave back {self.released} message(s) the handlers had not finished")
        for stats, source in self.sources:
            if isinstance(source, StreamSource):
                try:
                    source.checkpoint()
                except botocore.exceptions.ClientError as exc:
                    self.progress(f"{stats.logical}: could not save the stream position: {exc}")

    # -- one pass ------------------------------------------------------------------------------------------

    def _poll(self, stats: MappingStats, source: Source, *, draining: bool, wait_s: int) -> tuple[int, bool]:
        """Poll once; returns (records read, whether that was new work). AWS errors end this mapping."""
        self.reload_changed()
        try:
            if isinstance(source, SqsSource):
                n, fresh = source.poll(wait_s)
                return n, fresh > 0
            # A stream read that brought records is new work even when it failed: the retries it leads to
            # are bounded (MaximumRetryAttempts, or DRAIN_RETRY_CAP in a drain) and bisecting converges.
            n, _moved = source.poll(draining=draining)
            return n, n > 0
        except botocore.exceptions.ClientError as exc:
            error = translate_error(exc, self.endpoint_url)
            stats.fail(f"{stats.source}: {error.message if error else exc}")
            self.progress(f"{stats.logical}: {stats.detail}; mapping stopped")
            self.sources = [(s, src) for s, src in self.sources if src is not source]
            return 0, False

    def reload_changed(self) -> Reload | None:
        """`--watch`: if source files changed, reload the handlers (between batches: running invocations
        finish first) and say which functions now run new code."""
        if self.watch is None:
            return None
        files = self.watch.changes()
        if not files:
            return None
        modules = {self.watch.module_of(p): self.watch.relative(p) for p in files}
        reload = Reload(files=sorted(modules.values()))
        reload.restart_needed = sorted(f for m, f in modules.items() if not self.watch.is_reloadable(m))
        changed = {m for m in modules if self.watch.is_reloadable(m)}
        if changed:
            try:
                reload.functions = self.invoker.reload(self.watch.reloadable, changed)
            except (HandlerBroken, HandlerUnavailable) as exc:
                reload.error = str(exc)
        self.reloads.append(reload)
        self.progress(reload.describe())
        return reload

    def drain(self) -> None:
        """Each mapping until a poll brings nothing new (`--once`).

        Failed SQS messages stay invisible for the queue's visibility timeout; if it is short they come back
        within the drain and are handed to the function again, but a poll of redeliveries only ends the
        drain, so a message that always fails cannot keep a one-shot run alive.
        """
        for stats, source in list(self.sources):
            while not self.stop.is_set():
                n, new_work = self._poll(stats, source, draining=True, wait_s=self.wait_s)
                if (n == 0 and not _busy(source)) or (n and not new_work):
                    break
            if isinstance(source, SqsSource):
                source.wait_idle()

    def run_until_idle(
        self,
        *,
        idle_s: float = IDLE_S,
        timeout_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        stop: threading.Event | None = None,
    ) -> list[dict[str, Any]]:
        """Poll every mapping until each source has stayed empty for `idle_s` with nothing in flight
        (`--until-idle`).

        A queue that answers empty may still hold messages in flight: received by a run that was killed, or
        failed by this one and waiting out the visibility timeout. Idle would then be a lie, so the run keeps
        polling until they come back and are handled, reporting how many there are and by when they are
        visible again; if they are still in flight once the queue's visibility timeout (or delay) has passed,
        it gives up with `undrained` set. Returns what was still pending (empty: idle and drained)."""
        began = clock()
        self.undrained = False
        empty_since: dict[int, float] = {}
        last_read: dict[int, int] = {}
        waiting: _InFlightWait | None = None
        while stop is None or not stop.is_set():
            now = clock()
            live = list(self.sources)
            if all(now - empty_since.get(id(src), now + 1) >= idle_s for _, src in live):
                in_flight = self._in_flight(live)
                if not in_flight:
                    return []
                if any(q["visible"] for q in in_flight):
                    empty_since.clear()  # they came back: poll them before any idle verdict
                waiting = waiting or self._announce_wait(in_flight, now, idle_s)
                if now >= waiting.give_up_at:
                    self.undrained = True
                    return self._pending(live, last_read)
            if timeout_s is not None and now - began >= timeout_s:
                return self._pending(live, last_read)
            for stats, source in live:
                n, _ = self._poll(stats, source, draining=True, wait_s=0)
                last_read[id(source)] = n
                if n or _busy(source):
                    empty_since.pop(id(source), None)
                    waiting = None  # messages came back: a later wait is a new one
                else:
                    empty_since.setdefault(id(source), clock())
            if not any(last_read.get(id(src)) for _, src in live):
                # Everything was empty: wait a little rather than spin (a stop ends the wait).
                (stop or threading.Event()).wait(IDLE_POLL_S)
        return []

    def _announce_wait(self, in_flight: list[dict[str, Any]], now: float, idle_s: float) -> _InFlightWait:
        longest = max(q["visible_within_s"] for q in in_flight)
        by = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=longest)
        for q in in_flight:
            if not q["in_flight"]:
                continue
            self.progress(
                f"{q['logical']}: {q['in_flight']} message(s) in flight on {q['source']}, visible again "
                f"within {q['visible_within_s']} s (by {by:%H:%M:%S}Z): waiting for them"
            )
        return _InFlightWait(give_up_at=now + longest + idle_s + 1)

    def _in_flight(self, live: list[tuple[MappingStats, Source]]) -> list[dict[str, Any]]:
        """Per SQS mapping whose queue is not empty: the messages visible (they came back since the last
        poll), those nobody can receive now (in flight or delayed), and the longest these can stay so (the
        queue's visibility timeout, or its delay)."""
        found: list[dict[str, Any]] = []
        for stats, source in live:
            if not isinstance(source, SqsSource):
                continue
            try:
                attrs = self.factory.client("sqs").get_queue_attributes(
                    QueueUrl=source.queue_url,
                    AttributeNames=[
                        "ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible",
                        "ApproximateNumberOfMessagesDelayed",
                        "VisibilityTimeout",
                        "DelaySeconds",
                    ],
                )["Attributes"]
            except botocore.exceptions.ClientError as exc:
                self.progress(f"{stats.logical}: cannot count the messages in flight: {exc}")
                continue
            visible = int(attrs.get("ApproximateNumberOfMessages", 0))
            hidden = int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0))
            delayed = int(attrs.get("ApproximateNumberOfMessagesDelayed", 0))
            if visible or hidden or delayed:
                within = max(int(attrs.get("VisibilityTimeout", 30)), int(attrs.get("DelaySeconds", 0)))
                found.append(
                    {
                        "logical": stats.logical,
                        "source": stats.source,
                        "visible": visible,
                        "in_flight": hidden + delayed,
                        "visible_within_s": within,
                    }
                )
        return found

    def _pending(
        self, live: list[tuple[MappingStats, Source]], last_read: dict[int, int]
    ) -> list[dict[str, Any]]:
        pending: list[dict[str, Any]] = []
        for stats, source in live:
            entry: dict[str, Any] = {
                "logical": stats.logical,
                "source": stats.source,
                "last_poll_records": last_read.get(id(source), 0),
            }
            if isinstance(source, SqsSource):
                try:
                    attrs = self.factory.client("sqs").get_queue_attributes(
                        QueueUrl=source.queue_url,
                        AttributeNames=[
                            "ApproximateNumberOfMessages",
                            "ApproximateNumberOfMessagesNotVisible",
                        ],
                    )["Attributes"]
                    entry["visible"] = int(attrs.get("ApproximateNumberOfMessages", 0))
                    entry["in_flight"] = int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0))
                except botocore.exceptions.ClientError:
                    pass
            if entry["last_poll_records"] or entry.get("visible") or entry.get("in_flight"):
                pending.append(entry)
        return pending or [
            {"logical": s.logical, "source": s.source, "last_poll_records": last_read.get(id(src), 0)}
            for s, src in live
        ]

    def run_sweep(self) -> None:
        """Deliver one SweepSchedule "Scheduled Event" to the ModerationSweepFunction handler."""
        assert self.model is not None
        self.sweep.sweeps += 1
        names = StackNames(self.settings, self.model.account, self.model.region)
        spec = self.model.get(SWEEP_FUNCTION)
        assert isinstance(spec, FunctionSpec)
        target = self._sweep_target or target_of(self.model, spec)
        self._sweep_target = target
        try:
            handler = self.invoker.load(target)
        except (HandlerUnavailable, HandlerBroken) as exc:
            self.sweep.errors += 1
            self.sweep.detail = str(exc)
            self.progress(f"{SWEEP_RULE}: {exc}")
            return
        event = scheduled_event(names.arn(SWEEP_RULE))
        result = self.invoker.invoke(target, handler, event)
        if result.error is not None:
            self.sweep.errors += 1
            self.sweep.detail = f"function error: {type(result.error).__name__}: {result.error}"
            self.progress(f"{SWEEP_RULE} -> {target.handler}: {self.sweep.detail}")
            return
        self.sweep.last = dict(result.response) if isinstance(result.response, dict) else {}
        self.progress(f"{SWEEP_RULE} -> {target.handler}: {self.sweep.last}")

    # -- serving -------------------------------------------------------------------------------------------

    def serve(
        self,
        *,
        stop: threading.Event,
        duration_s: float | None = None,
        sweep_every_s: float | None = DEFAULT_SWEEP_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Poll every mapping in turn until `stop` is set or `duration_s` has passed. The schedule fires
        every `sweep_every_s` seconds, the first time one interval after start (as a new rate rule does)."""
        began = clock()
        next_sweep = began + sweep_every_s if sweep_every_s else None
        schedules = self._schedules(began)
        while not stop.is_set():
            now = clock()
            if duration_s is not None and now - began >= duration_s:
                return
            if next_sweep is not None and now >= next_sweep:
                self.run_sweep()
                next_sweep = now + float(sweep_every_s or 0)
            schedules.fire_due(now)
            if not self.sources:
                self.reload_changed()  # the API and the schedules' handlers still run
                # Nothing to poll (all skipped): wait for the schedule, the deadline or a stop.
                stop.wait(_idle_wait(now, began, duration_s, next_sweep))
                continue
            for stats, source in list(self.sources):
                if stop.is_set():
                    return
                left = None if duration_s is None else duration_s - (clock() - began)
                if left is not None and left <= 0:
                    return
                wait = self.wait_s if left is None else max(0, min(self.wait_s, int(left)))
                n, _ = self._poll(stats, source, draining=False, wait_s=wait)
                if isinstance(source, StreamSource) and n == 0:
                    # Streams have no long poll: pace idle reads like Lambda's poller (about 4 per second).
                    stop.wait(0.25)

    def _schedules(self, now: float) -> Schedules:
        assert self.model is not None, "prepare() first"
        names = StackNames(self.settings, self.model.account, self.model.region)
        self.schedules = Schedules(
            self.model, names, self.invoker, now=now, progress=self.progress, skip=(SWEEP_RULE,)
        )
        return self.schedules

    # -- BookingsApi on a loopback port ---------------------------------------------------------------------

    def start_api(self, port: int) -> LocalApi:
        """Serve BookingsApi's routes on 127.0.0.1:`port` (0 picks a free one) alongside the pumps."""
        assert self.model is not None, "prepare() first"
        spec = self.model.get(API_FUNCTION)
        assert isinstance(spec, FunctionSpec)
        target = target_of(self.model, spec)
        try:
            handler = self.invoker.load(target)
        except (HandlerUnavailable, HandlerBroken) as exc:
            raise UsageError(f"BookingsApi cannot be served: {exc}") from None
        api = LocalApi(
            self.invoker,
            target,
            handler,
            port=port,
            stack=self.settings.stack.name,
            endpoint_url=self.endpoint_url,
            progress=self.progress,
        )
        api.start()
        self.api = api
        return api

    def close(self) -> None:
        if self.api is not None:
            self.api.stop()
        for _, source in self.sources:
            source.close()
        self.invoker.close()

    # -- results -------------------------------------------------------------------------------------------

    @property
    def failed(self) -> bool:
        """An invocation raised (or a mapping could not be served)."""
        scheduled = self.schedules.errors if self.schedules is not None else 0
        return any(s.status == ERROR for s in self.stats) or self.sweep.errors > 0 or scheduled > 0

    def summary(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "mappings": [s.as_dict() for s in self.stats],
            "sweeps": self.sweep.sweeps,
            "sweep_errors": self.sweep.errors,
            "schedules": self.schedules.summary() if self.schedules is not None else [],
            "functions": [c.as_dict() for c in self.invoker.calls.values()],
            "ok": not self.failed,
            "interrupted": self.stop.is_set(),
            "released": self.released,
            # Handler metrics (EMF) by name, summed over the run: the terminal shows these, not the lines.
            "metrics": self.log_view.summary() if self.log_view is not None else {},
            # Lambda's concurrency as the run saw it: the most invocations at once (all functions), batches
            # refused by reserved concurrency, invocations stopped at their timeout.
            "concurrency": {
                "max": self.invoker.lease.peak,
                "by_function": dict(self.invoker.lease.peak_by_function),
                "throttles": sum(s.throttles for s in self.stats),
                "timeouts": sum(s.timeouts for s in self.stats),
                "crashes": sum(s.crashes for s in self.stats),
                "duplicates": sum(s.duplicates for s in self.stats),
                "retries": sum(s.retries for s in self.stats),
                # Stream batches run alongside another of the same shard (ParallelizationFactor).
                "parallel_batches": sum(s.parallel_batches for s in self.stats),
            },
            # `--faults`: the spec, its seed and how many of each fault were injected ({} without faults).
            "faults": self.faults.as_dict() if self.faults is not None else {},
            # Each function's peak memory against its MemorySize (docs/local.md, "Memory").
            "memory": self.invoker.memory.summary(),
            "memory_method": self.invoker.memory.method,
            # `--watch`: each reload, its changed files and the functions that now run new code.
            "reloads": [r.as_dict() for r in self.reloads],
        }
        if self.api is not None:
            doc["api"] = {"url": self.api.url, "requests": self.api.requests, "errors": self.api.errors}
        return doc


def _busy(source: Source) -> bool:
    return isinstance(source, SqsSource) and source.busy


def _idle_wait(now: float, began: float, duration_s: float | None, next_sweep: float | None) -> float:
    waits = [1.0]
    if duration_s is not None:
        waits.append(max(0.0, began + duration_s - now))
    if next_sweep is not None:
        waits.append(max(0.0, next_sweep - now))
    return min(waits)
