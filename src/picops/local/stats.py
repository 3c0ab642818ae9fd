"""Per-mapping counters the runtime reports (`picops local run --json` -> `mappings[]`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Progress = Callable[[str], None]

OK = "ok"
SKIPPED = "skipped"
ERROR = "error"


@dataclass
class MappingStats:
    logical: str
    source: str
    handler: str
    invocations: int = 0
    records: int = 0
    failed_records: int = 0
    # Invocations whose function raised (or answered with an unusable batch response).
    function_errors: int = 0
    # Batches refused by the function's reserved concurrency and given back to the source.
    throttles: int = 0
    # Invocations stopped at the function's timeout (their batch given back for retry).
    timeouts: int = 0
    # The most invocations of this mapping that ran at once.
    max_concurrent: int = 0
    # `--faults`: batches lost to a crash before the ack, and batches delivered twice.
    crashes: int = 0
    duplicates: int = 0
    # Records handed over again (ApproximateReceiveCount above 1): retries after a failure or a fault.
    retries: int = 0
    # Stream batches run alongside another batch of the same shard (ParallelizationFactor above 1).
    parallel_batches: int = 0
    status: str = OK
    detail: str = ""

    def fail(self, detail: str) -> None:
        self.status = ERROR
        self.detail = detail

    def as_dict(self) -> dict[str, Any]:
        return {
            "logical": self.logical,
            "source": self.source,
            "handler": self.handler,
            "invocations": self.invocations,
            "records": self.records,
            "failed_records": self.failed_records,
            "throttles": self.throttles,
            "timeouts": self.timeouts,
            "max_concurrent": self.max_concurrent,
            "crashes": self.crashes,
            "duplicates": self.duplicates,
            "retries": self.retries,
            "parallel_batches": self.parallel_batches,
            "status": self.status,
            "detail": self.detail,
        }
