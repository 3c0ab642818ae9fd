"""The local runtime's per-function peak memory against MemorySize (docs/local.md, "Memory")."""

from __future__ import annotations

from typing import Any

import pytest

from picops.local.invoke import FunctionTarget, Invoker
from picops.local.memory import VMHWM, MemoryMeter

MB = 1024 * 1024


def _target(logical: str, memory_mb: int) -> FunctionTarget:
    return FunctionTarget(logical=logical, name=f"picops-{logical}", handler="x.y", memory_mb=memory_mb)


def _allocating(mb: int) -> Any:
    def handler(event: Any, context: Any) -> int:
        # Written to, not only reserved: untouched pages would not be resident.
        block = b"\x01" * (mb * MB)
        return len(block)

    return handler


@pytest.mark.skipif(MemoryMeter().method != VMHWM, reason="the exact figure needs Linux's VmHWM reset")
def test_each_function_reports_the_memory_its_invocations_took_against_its_memory_size() -> None:
    invoker = Invoker(endpoint_url="http://127.0.0.1:1", region="us-east-1")
    big, small = _target("BigFunction", 64), _target("SmallFunction", 512)
    assert invoker.invoke(big, _allocating(96), {}).error is None
    assert invoker.invoke(small, _allocating(1), {}).error is None
    # The small one after the big one: a reset high-water mark, not the big one's peak again.
    memory = invoker.memory.summary()
    assert memory["BigFunction"]["above_baseline_mb"] >= 90
    assert memory["BigFunction"]["memory_size_mb"] == 64
    assert memory["BigFunction"]["over"] is True
    assert memory["SmallFunction"]["above_baseline_mb"] < 16
    assert memory["SmallFunction"]["over"] is False
    assert memory["BigFunction"]["peak_mb"] >= memory["BigFunction"]["above_baseline_mb"]
