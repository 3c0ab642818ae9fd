"""`run_until_idle` with messages in flight, on a fake clock: idle only when drained (docs/local.md)."""

from __future__ import annotations

import threading
from typing import Any

from tests.unit.test_devloop_units import FakeClock, _runtime_with


class _NoWait(threading.Event):
    """A stop event whose waits return at once (the fake clock moves with each poll instead)."""

    def wait(self, timeout: float | None = None) -> bool:
        return self.is_set()


def _backlog(in_flight: int, visible: int = 0, within: int = 10) -> list[dict[str, Any]]:
    return [
        {
            "logical": "A",
            "source": "ASource",
            "visible": visible,
            "in_flight": in_flight,
            "visible_within_s": within,
        }
    ]


def test_messages_in_flight_keep_the_run_polling_until_they_come_back_and_are_handled() -> None:
    clock = FakeClock()
    # A is empty for 4 s (8 polls), then the 3 messages in flight come back and are handled.
    runtime = _runtime_with({"A": [0] * 8 + [3]}, clock)
    lines: list[str] = []
    runtime.progress = lines.append
    runtime._in_flight = lambda live: _backlog(3) if clock.now < 4.5 else []  # type: ignore[method-assign]
    pending = runtime.run_until_idle(idle_s=2.0, clock=clock, stop=_NoWait())
    assert pending == []
    assert runtime.undrained is False
    assert clock.now >= 6.5  # the records came at t=4.5, then 2 s of empty polls
    assert any("3 message(s) in flight on ASource, visible again within 10 s" in line for line in lines)


def test_messages_that_never_come_back_end_the_run_undrained_after_the_visibility_timeout() -> None:
    clock = FakeClock()
    runtime = _runtime_with({"A": []}, clock)
    runtime.progress = lambda line: None
    runtime._in_flight = lambda live: _backlog(5, within=10)  # type: ignore[method-assign]
    pending = runtime.run_until_idle(idle_s=2.0, clock=clock, stop=_NoWait())
    assert runtime.undrained is True
    assert [p["logical"] for p in pending] == ["A"]
    # The wait began once A had been empty for 2 s and lasts the visibility timeout plus the idle time.
    assert 14.0 <= clock.now < 17.0


def test_messages_visible_again_are_polled_before_any_idle_verdict() -> None:
    clock = FakeClock()
    runtime = _runtime_with({"A": [0] * 5 + [2]}, clock)
    runtime.progress = lambda line: None
    runtime._in_flight = lambda live: _backlog(0, visible=2) if clock.now < 3.0 else []  # type: ignore[method-assign]
    assert runtime.run_until_idle(idle_s=2.0, clock=clock, stop=_NoWait()) == []
    assert runtime.undrained is False
    assert clock.now >= 5.0
