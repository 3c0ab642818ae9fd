"""The stack's alarms evaluated on a local endpoint, where nothing computes CloudWatch metrics: from the
local runtime's own records, for a release to watch while it shifts traffic (provision/release/shift.py).

- AWS/Lambda Errors: the invocations of the function the alarm names that failed (the runtime writes one
  `[ERROR]` line per failed invocation to the function's log file, picops.local.logfiles) since the watch
  began, against the alarm's threshold;
- AWS/SQS ApproximateNumberOfMessagesVisible (the DLQ alarms): the queue's attribute now.

Other metrics (Throttles, ages) have no local record and never fire here.
"""

from __future__ import annotations

import operator
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import botocore.exceptions

from picops.local import logfiles
from picops.stack.model import Alarm, StackModel

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
ERROR_PREFIX = "[ERROR] "


class LocalAlarms:
    def __init__(
        self, model: StackModel, sqs: Any, *, since_ms: int | None = None, directory: Path | None = None
    ) -> None:
        self.alarms = {a.name: a for a in model.of_type(Alarm)}
        self.sqs = sqs
        self.since_ms = int(time.time() * 1000) if since_ms is None else since_ms
        self.directory = directory
        self._lock = threading.Lock()
        # Per log file: the offset read up to and the errors counted so far.
        self._read: dict[str, tuple[int, int]] = {}

    def firing(self, names: Sequence[str]) -> list[str]:
        return [name for name in names if name in self.alarms and self.in_alarm(self.alarms[name])]

    def in_alarm(self, alarm: Alarm) -> bool:
        value = self.value(alarm)
        compare = _COMPARE.get(alarm.comparison)
        return value is not None and compare is not None and compare(value, float(alarm.threshold))

    def value(self, alarm: Alarm) -> float | None:
        dimensions = dict(alarm.dimensions)
        if alarm.namespace == "AWS/Lambda" and alarm.metric == "Errors" and "FunctionName" in dimensions:
            return float(self.errors(dimensions["FunctionName"]))
        if alarm.namespace == "AWS/SQS" and alarm.metric == "ApproximateNumberOfMessagesVisible":
            return self._visible(dimensions.get("QueueName", ""))
        return None

    def errors(self, function_name: str) -> int:
        """Failed invocations of `function_name` since the watch began."""
        path = logfiles.log_path(function_name, self.directory)
        with self._lock:
            offset, count = self._read.get(str(path), (0, 0))
            events, offset = logfiles.read(path, offset=offset)
            count += sum(
                1
                for e in events
                if int(e.get("timestamp", 0)) >= self.since_ms
                and str(e.get("message", "")).startswith(ERROR_PREFIX)
            )
            self._read[str(path)] = (offset, count)
        return count

    def _visible(self, queue_name: str) -> float | None:
        try:
            url = self.sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
        except botocore.exceptions.ClientError:
            return None
        return float(attributes.get("ApproximateNumberOfMessages", 0))
