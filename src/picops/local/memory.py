"""Each function's peak memory in the local runtime, against its MemorySize (docs/local.md, "Memory").

Handlers run in-process, and one function's invocations at a time (`picops.local.workers`), so a "wave" of
one function's invocations is what the process did while only that function ran. For each wave the meter
reads the process's resident set size (RSS) before it, resets the kernel's RSS high-water mark (Linux:
writing 5 to /proc/self/clear_refs), and reads the high-water mark (VmHWM) after it: that is exact, C
allocations included (Pillow's decode buffers are not Python objects, which is why tracemalloc is not used).

What it reports, per function: `peak_mb`, the process's RSS high-water mark while the function ran (the
runtime's own modules and clients included: more than a Lambda container of that function would hold), and
`above_baseline_mb`, what its invocations added on top of the RSS before they started (the handler's own
working set; memory the process had already grown to earlier and reused is not counted again).
Where /proc is missing (macOS) the lifetime peak of getrusage cannot be reset: `method` says
"ru_maxrss" and `above_baseline_mb` only counts growth past the process's earlier peak.
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
# Writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS (Linux 4.0 and later).
_RESET_PEAK = "5"
VMHWM = "vmhwm"
RU_MAXRSS = "ru_maxrss"


def _status_kb(field: str) -> int | None:
    try:
        found = re.search(rf"^{field}:\s+(\d+)\s+kB", _STATUS.read_text(), re.M)
    except OSError:
        return None
    return int(found.group(1)) if found else None


def _maxrss_kb() -> int:
    import resource  # POSIX only: imported where /proc is missing, not by every runtime

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB elsewhere


def _can_reset() -> bool:
    try:
        _CLEAR_REFS.write_text(_RESET_PEAK)
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


@dataclass
class FunctionMemory:
    memory_size_mb: int
    peak_kb: int = 0
    above_baseline_kb: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "peak_mb": round(self.peak_kb / 1024, 1),
            "above_baseline_mb": round(self.above_baseline_kb / 1024, 1),
            "memory_size_mb": self.memory_size_mb,
            # Its own working set alone is past the function's memory: Lambda would stop it too.
            "over": self.above_baseline_kb / 1024 > self.memory_size_mb,
        }


class MemoryMeter:
    """Peak RSS per function, measured over each wave of its invocations (`wave`)."""

    def __init__(self) -> None:
        self.method = VMHWM if _can_reset() else RU_MAXRSS
        self.functions: dict[str, FunctionMemory] = {}
        self._lock = threading.Lock()

    def _now(self) -> tuple[int, int]:
        """(current RSS, high-water mark) in KiB."""
        if self.method == VMHWM:
            return _status_kb("VmRSS") or 0, _status_kb("VmHWM") or 0
        peak = _maxrss_kb()
        return peak, peak

    @contextlib.contextmanager
    def wave(self, function: str, memory_size_mb: int) -> Iterator[None]:
        if self.method == VMHWM:
            with contextlib.suppress(OSError):
                _CLEAR_REFS.write_text(_RESET_PEAK)
        baseline, _ = self._now()
        try:
            yield
        finally:
            _, peak = self._now()
            with self._lock:
                seen = self.functions.setdefault(function, FunctionMemory(memory_size_mb))
                seen.peak_kb = max(seen.peak_kb, peak)
                seen.above_baseline_kb = max(seen.above_baseline_kb, peak - baseline)

    def summary(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: m.as_dict() for name, m in sorted(self.functions.items())}
