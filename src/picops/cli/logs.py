"""`picops logs FUNCTION`: a function's logs, from CloudWatch Logs on AWS or the local runtime's log files.

On AWS: FilterLogEvents on the function's log group (paginated; `--follow` polls from the last event seen).
On a local endpoint: the per-function file the local runtime and `picops invoke` write under the state
directory (`picops.local.logfiles`), read the same way. Powertools JSON lines become table rows (time, level,
message, key fields); `--json` prints one JSON object per event (JSON Lines).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import typer

from picops.cli.events import stack_model
from picops.cli.output import Output
from picops.cli.state import get_state
from picops.core.trace.logs import POWERTOOLS_KEYS
from picops.errors import UsageError
from picops.local import logfiles
from picops.local.event_kinds import find_function

DEFAULT_POLL_S = 2.0
# Powertools' standard keys: shown in their own columns or too noisy for the table's key fields.
_STANDARD_KEYS = POWERTOOLS_KEYS
_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_PLAIN_LEVEL = re.compile(r"^\[(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\]\s*(.*)$", re.S)


def parse_since(text: str, *, now: dt.datetime | None = None) -> int:
    """`--since`: a duration back from now (`30s`, `10m`, `2h`, `1d`) or an ISO 8601 time; epoch ms."""
    now = now or dt.datetime.now(dt.UTC)
    match = _DURATION.match(text.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        seconds = amount * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
        return int((now - dt.timedelta(seconds=seconds)).timestamp() * 1000)
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since {text!r} is neither a duration (30s, 10m, 2h, 1d) nor an ISO 8601 time"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


# -- one event, parsed ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogLine:
    timestamp: int
    stream: str
    level: str
    message: str
    fields: dict[str, Any]
    structured: bool
    # With --all: the logical name of the function that wrote it.
    function: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            **({"function": self.function} if self.function else {}),
            "timestamp": self.timestamp,
            "time": _iso(self.timestamp),
            "log_stream": self.stream,
            "level": self.level,
            "message": self.message,
            "fields": self.fields,
        }

    @property
    def key_fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.fields.items() if k not in _STANDARD_KEYS}


def _iso(ms: int) -> str:
    when = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_event(event: dict[str, Any]) -> LogLine:
    line = _parse_event(event)
    function = str(event.get("function", ""))
    return replace(line, function=function) if function else line


def _parse_event(event: dict[str, Any]) -> LogLine:
    message = str(event.get("message", "")).rstrip("\n")
    stream = str(event.get("logStreamName", ""))
    timestamp = int(event.get("timestamp", 0))
    try:
        doc = json.loads(message) if message.startswith("{") else None
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        fields = {k: v for k, v in doc.items() if k not in ("level", "message")}
        return LogLine(
            timestamp, stream, str(doc.get("level", "")), str(doc.get("message", "")), fields, True
        )
    plain = _PLAIN_LEVEL.match(message)
    if plain:
        return LogLine(timestamp, stream, plain.group(1), plain.group(2), {}, False)
    return LogLine(timestamp, stream, "", message, {}, False)


# -- filter patterns on local files (CloudWatch's syntax, a documented subset) -------------------------

_JSON_TERM = re.compile(r"^\s*\$\.([A-Za-z0-9_.\-]+)\s*(=|!=|<=|>=|<|>)\s*(\S.*?)\s*$")


_FIELD_EQUALS = re.compile(r"^([A-Za-z_][A-Za-z0-9_.\-]*)=(\S+)$")


def field_pattern(pattern: str | None) -> str | None:
    """`--filter FIELD=VALUE` (a structured field of the Powertools lines, e.g. booking_id=01J...) as the
    CloudWatch JSON pattern `{ $.FIELD = "VALUE" }`; any other pattern is passed on as written."""
    found = _FIELD_EQUALS.match(pattern.strip()) if pattern else None
    if found is None:
        return pattern
    value = found.group(2).replace("\\", "\\\\").replace('"', '\\"')
    return f'{{ $.{found.group(1)} = "{value}" }}'


def compile_filter(pattern: str | None) -> Callable[[str], bool]:
    """A CloudWatch Logs filter pattern as a predicate over one message. Supported locally: terms and
    "quoted phrases" (all must occur), ?term (at least one), -term (none), and JSON patterns
    `{ $.field OP value }` joined by && or || (OP: = != < > <= >=; * wildcards in strings)."""
    if not pattern or not pattern.strip():
        return lambda _message: True
    text = pattern.strip()
    if text.startswith("{"):
        if not text.endswith("}"):
            raise UsageError(f"--filter {pattern!r}: a JSON pattern must end with '}}'")
        return _json_filter(text[1:-1], pattern)
    if text.startswith("["):
        raise UsageError(
            f"--filter {pattern!r}: space-delimited patterns are not supported on a local endpoint",
            hint='use terms, "phrases", ?any, -exclude or { $.field = value }',
        )
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"--filter {pattern!r}: {exc}") from None
    required = [t for t in tokens if not t.startswith(("?", "-"))]
    optional = [t[1:] for t in tokens if t.startswith("?") and len(t) > 1]
    excluded = [t[1:] for t in tokens if t.startswith("-") and len(t) > 1]

    def match(message: str) -> bool:
        return (
            all(t in message for t in required)
            and not any(t in message for t in excluded)
            and (not optional or any(t in message for t in optional))
        )

    return match


def _json_filter(body: str, pattern: str) -> Callable[[str], bool]:
    alternatives: list[list[tuple[list[str], str, str]]] = []
    for alternative in body.split("||"):
        terms = []
        for term in alternative.split("&&"):
            found = _JSON_TERM.match(term)
            if not found:
                raise UsageError(
                    f"--filter {pattern!r}: cannot read {term.strip()!r}",
                    hint='JSON patterns look like { $.level = "ERROR" && $.count > 3 }',
                )
            terms.append((found.group(1).split("."), found.group(2), found.group(3)))
        alternatives.append(terms)

    def match(message: str) -> bool:
        try:
            doc = json.loads(message)
        except ValueError:
            return False
        return any(all(_json_term(doc, *term) for term in terms) for terms in alternatives)

    return match


def _json_term(doc: Any, path: list[str], op: str, raw: str) -> bool:
    value = doc
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
        wanted = raw[1:-1]
        if op not in ("=", "!="):
            return False
        regex = "^" + ".*".join(re.escape(p) for p in wanted.split("*")) + "$"
        hit = isinstance(value, str) and re.match(regex, value, re.S) is not None
        return hit if op == "=" else not hit
    try:
        number = float(raw)
    except ValueError:
        if raw in ("true", "false", "null"):
            target = {"true": True, "false": False, "null": None}[raw]
            return (value is target) if op == "=" else (value is not target) if op == "!=" else False
        regex = "^" + ".*".join(re.escape(p) for p in raw.split("*")) + "$"
        hit = isinstance(value, str) and re.match(regex, value, re.S) is not None
        return hit if op == "=" else not hit if op == "!=" else False
    if isinstance(value, bool) or not isinstance(value, int | float):
        return op == "!="
    return {
        "=": value == number,
        "!=": value != number,
        "<": value < number,
        ">": value > number,
        "<=": value <= number,
        ">=": value >= number,
    }[op]


# -- sources -------------------------------------------------------------------------------------------


class CloudWatchSource:
    """FilterLogEvents over one log group; `fetch` returns every event after the last one seen."""

    def __init__(
        self, logs: Any, group: str, start_ms: int, pattern: str | None, *, page_size: int | None = None
    ) -> None:
        self.logs = logs
        self.page_size = page_size
        self.group = group
        self.start_ms = start_ms
        self.pattern = pattern
        self._seen_at_start: set[str] = set()

    def fetch(self) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {"logGroupName": self.group, "startTime": self.start_ms}
        if self.pattern:
            kwargs["filterPattern"] = self.pattern
        if self.page_size:
            kwargs["PaginationConfig"] = {"PageSize": self.page_size}
        events: list[dict[str, Any]] = []
        for page in self.logs.get_paginator("filter_log_events").paginate(**kwargs):
            events += page.get("events", [])
        events.sort(key=lambda e: (int(e.get("timestamp", 0)), str(e.get("eventId", ""))))
        fresh = [e for e in events if str(e.get("eventId")) not in self._seen_at_start]
        if fresh:
            # The next poll starts at the newest timestamp; events already shown there are skipped.
            newest = int(fresh[-1]["timestamp"])
            if newest != self.start_ms:
                self._seen_at_start = set()
            self.start_ms = newest
            self._seen_at_start |= {str(e.get("eventId")) for e in fresh if int(e["timestamp"]) == newest}
        return fresh


class FileSource:
    """The local runtime's log file of one function; `fetch` returns what was appended since."""

    def __init__(self, path: Path, start_ms: int, pattern: str | None) -> None:
        self.path = path
        self.start_ms = start_ms
        self.match = compile_filter(pattern)
        self.offset = 0

    def fetch(self) -> list[dict[str, Any]]:
        events, self.offset = logfiles.read(self.path, offset=self.offset)
        return [e for e in events if int(e["timestamp"]) >= self.start_ms and self.match(str(e["message"]))]


class MergedSource:
    """Several functions' sources as one (`--all`): each fetch's events oldest first, each labelled with the
    logical name of the function that wrote it."""

    def __init__(self, sources: dict[str, CloudWatchSource | FileSource]) -> None:
        self.sources = sources

    def fetch(self) -> list[dict[str, Any]]:
        events = [{**e, "function": name} for name, source in self.sources.items() for e in source.fetch()]
        return sorted(events, key=lambda e: int(e.get("timestamp", 0)))


def follow(
    fetch: Callable[[], list[dict[str, Any]]],
    *,
    poll_s: float,
    stop: threading.Event,
) -> Iterator[list[dict[str, Any]]]:
    """Batches of new events: the first fetch, then one every `poll_s` until `stop` is set."""
    while True:
        yield fetch()
        if stop.wait(poll_s):
            return


# -- rendering -----------------------------------------------------------------------------------------


def format_row(line: LogLine) -> str:
    """One table row: time, level, message, key fields (plain text, never wrapped, so it greps)."""
    fields = " ".join(
        f"{k}={json.dumps(v, default=str, ensure_ascii=False)}" for k, v in line.key_fields.items()
    )
    who = f"{line.function}  " if line.function else ""
    text = f"{_iso(line.timestamp)}  {who}{line.level or '-':<8} {line.message}"
    return f"{text}  {fields}" if fields else text


def _render_batch(out: Output, lines: list[LogLine], *, header: bool) -> None:
    if out.json_mode:
        for line in lines:
            sys.stdout.write(json.dumps(line.as_dict(), ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()
        return
    if not lines:
        return
    colours = {"ERROR": "red", "CRITICAL": "red", "WARNING": "yellow", "WARN": "yellow"}
    if header:
        who = "function  " if any(line.function for line in lines) else ""
        out.out.print(f"[bold]{'time':<24}  {who}{'level':<8} message  key fields[/bold]")
    for line in lines:
        row = format_row(line)
        colour = colours.get(line.level)
        out.out.print(row, markup=False, highlight=False, style=colour, overflow="ignore", crop=False)


def _source(
    state: Any, model: Any, spec: Any, start_ms: int, pattern: str | None
) -> CloudWatchSource | FileSource:
    if state.factory.is_local:
        return FileSource(logfiles.log_path(spec.name), start_ms, pattern)
    group = model.get(spec.log_group).name if spec.log_group in model else f"/aws/lambda/{spec.name}"
    return CloudWatchSource(state.factory.client("logs"), group, start_ms, pattern)


def logs(
    ctx: typer.Context,
    function: Annotated[
        str | None,
        typer.Argument(help="Logical (IngestFunction) or physical function name; none with --all."),
    ] = None,
    all_functions: Annotated[
        bool, typer.Option("--all", help="Every function of the stack, interleaved by time.")
    ] = False,
    since: Annotated[
        str, typer.Option("--since", help="How far back: 30s, 10m, 2h, 1d, or an ISO 8601 time.")
    ] = "10m",
    filter_pattern: Annotated[
        str | None,
        typer.Option(
            "--filter",
            help="FIELD=VALUE (a structured field, e.g. booking_id=01J...) or a CloudWatch Logs filter "
            'pattern (e.g. ERROR, { $.level = "ERROR" }).',
        ),
    ] = None,
    follow_mode: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep polling for new events until Ctrl-C.")
    ] = False,
    poll: Annotated[float, typer.Option("--poll", min=0.1, help="Seconds between polls with --follow.")] = (
        DEFAULT_POLL_S
    ),
    json_mode: Annotated[
        bool, typer.Option("--json", help="One JSON object per event (JSON Lines).")
    ] = False,
) -> None:
    """Show a function's logs: CloudWatch Logs on AWS, the local runtime's log files on a local endpoint.

    Powertools JSON lines are shown as a table (time, level, message, key fields); --json prints JSON Lines.
    --all interleaves every function's lines by time, each with its function's name.
    Exit 2 for FUNCTION together with --all (or neither), 3 for an unknown function or a missing log group.
    """
    if (function is None) == (not all_functions):
        raise UsageError("give FUNCTION or --all (not both)")
    state = get_state(ctx)
    out = state.output(json_mode)
    start_ms = parse_since(since)
    pattern = field_pattern(filter_pattern)
    model = stack_model(state, announce=False)
    out.target(state.factory.describe_target())
    source: CloudWatchSource | FileSource | MergedSource
    if all_functions:
        specs = list(model.functions())
        source = MergedSource({s.logical: _source(state, model, s, start_ms, pattern) for s in specs})
        what = "every function"
    else:
        spec = find_function(model, str(function))
        source = _source(state, model, spec, start_ms, pattern)
        what = spec.logical
        path = logfiles.log_path(spec.name)
        if state.factory.is_local and not path.exists():
            out.status(f"no invocations of {spec.logical} recorded yet ({path})")
    stop = threading.Event()
    header = True
    try:
        if not follow_mode:
            _render_batch(out, [parse_event(e) for e in source.fetch()], header=True)
            return
        out.status(f"following {what}'s logs every {poll:g} s until Ctrl-C")
        for batch in follow(source.fetch, poll_s=poll, stop=stop):
            _render_batch(out, [parse_event(e) for e in batch], header=header)
            header = header and not batch
    except KeyboardInterrupt:
        out.status("stopped")
