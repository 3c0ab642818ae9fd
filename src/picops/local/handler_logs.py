"""What handler output looks like on the operator's terminal during `picops local run`.

Handlers log Powertools JSON and EMF metric documents, one line each, as they would to CloudWatch Logs. The
per-function log files always keep those lines whole (`picops.local.logfiles`); the terminal gets, by default,
one short line per log record (level, function, message, the record's ids) and no metric lines at all: the
metrics are counted per name and shown once in the run's summary. `--log-format json` (or `-v`) prints the
lines as the handler wrote them. See docs/local.md.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, Literal

from picops.core.trace.logs import POWERTOOLS_KEYS

LogFormat = Literal["human", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("human", "json")
LOG_FORMAT_HELP = (
    "Handler logs on the terminal: `human` (one short line per record, metrics counted in the summary; the "
    "default) or `json` (as written; the default with -v). Log files keep full JSON."
)


def log_format_of(value: str | None, *, verbose: bool) -> LogFormat:
    """`--log-format`'s value (None: `json` with -v, else `human`)."""
    if value is None:
        return "json" if verbose else "human"
    for known in LOG_FORMATS:
        if value == known:
            return known
    from picops.errors import UsageError

    raise UsageError(f"--log-format {value!r}: use one of {', '.join(LOG_FORMATS)}")


# On the terminal's short line, the error details and logger names are context too.
_STANDARD_KEYS = POWERTOOLS_KEYS | frozenset(
    {
        "exception",
        "exception_name",
        "stack_trace",
        "logger",
        "name",
        "correlation_id",
    }
)
# The ids an operator greps for next; shown first, in this order, when the record has them.
_ID_KEYS = (
    "job_id",
    "booking_id",
    "key",
    "object_key",
    "bucket",
    "message_id",
    "kind",
    "status",
    "outcome",
    "reason",
    "error",
)
_MAX_VALUE = 60
_MAX_FIELDS = 5


def emf_counts(document: dict[str, Any]) -> dict[str, float] | None:
    """The metric values of one EMF document by metric name, or None when it is not EMF."""
    aws = document.get("_aws")
    if not isinstance(aws, dict) or not isinstance(aws.get("CloudWatchMetrics"), list):
        return None
    counts: dict[str, float] = {}
    for directive in aws["CloudWatchMetrics"]:
        for metric in directive.get("Metrics", []) if isinstance(directive, dict) else []:
            name = metric.get("Name") if isinstance(metric, dict) else None
            if isinstance(name, str):
                counts[name] = counts.get(name, 0) + _total(document.get(name))
    return counts


def _total(value: Any) -> float:
    # EMF allows a value or an array of values for one metric in one document.
    values = value if isinstance(value, list) else [value]
    return float(sum(v for v in values if isinstance(v, int | float) and not isinstance(v, bool)))


def human_line(function: str, document: dict[str, Any]) -> str:
    """`LEVEL  Function  message  id=value ...` for one Powertools log record."""
    level = str(document.get("level", "INFO")).upper()
    message = str(document.get("message", ""))
    extras = {k: v for k, v in document.items() if k not in _STANDARD_KEYS}
    ordered = [k for k in _ID_KEYS if k in extras] + [k for k in extras if k not in _ID_KEYS]
    fields = " ".join(f"{k}={_short(extras[k])}" for k in ordered[:_MAX_FIELDS])
    if "exception_name" in document:
        fields = f"{fields} exception={document['exception_name']}".strip()
    return f"{level:<7} {function}  {message}" + (f"  {fields}" if fields else "")


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


class HandlerLogView:
    """Turns the lines handlers write into terminal lines (`write`) and per-metric counts (`metrics`)."""

    def __init__(self, fmt: LogFormat, write: Callable[[str], None]) -> None:
        self.fmt = fmt
        self.write = write
        self.metrics: dict[str, float] = {}
        self._lock = threading.Lock()

    def line(self, function: str, text: str) -> None:
        document = _json_object(text)
        counts = emf_counts(document) if document is not None else None
        if counts is not None:
            with self._lock:
                for name, value in counts.items():
                    self.metrics[name] = self.metrics.get(name, 0.0) + value
        if self.fmt == "json":
            self.write(text)
        elif counts is None:
            # A print or a traceback line is shown as written: it is rare and it is what went wrong.
            self.write(text if document is None else human_line(function, document))

    def summary(self) -> dict[str, float]:
        with self._lock:
            return dict(sorted(self.metrics.items()))


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
