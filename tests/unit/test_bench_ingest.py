"""bench/ingest.py: the rate it prints as the median is the median round, with its range."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator

import pytest
from bench import ingest


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def _path(clock: Clock, seconds: Iterator[float]) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        clock.now += next(seconds)

    return run


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(ingest, "time", types.SimpleNamespace(perf_counter=fake.perf_counter))
    return fake


def test_rates_report_the_median_round_not_the_best(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    # One warm-up call each, then three rounds of one call: picops takes 1 s, 4 s, then 2 s.
    monkeypatch.setattr(ingest, "picops", _path(clock, iter([0.0, 1.0, 4.0, 2.0])))
    monkeypatch.setattr(ingest, "tutorial", _path(clock, iter([0.0, 4.0, 4.0, 4.0])))
    monkeypatch.setattr(ingest, "decode_floor", _path(clock, iter([0.0, 1.0, 1.0, 1.0])))

    r = ingest.rates(b"", rounds=3, per_round=1)

    assert r["picops"] == ingest.Spread(median=0.5, low=0.25, high=1.0)
    assert r["tutorial"].median == 0.25
    # Ratios are paired round by round: 4x, 1x, 2x faster than the tutorial.
    assert r["picops/tutorial"] == ingest.Spread(median=2.0, low=1.0, high=4.0)
    assert r["floor/picops"] == ingest.Spread(median=2.0, low=1.0, high=4.0)


def test_spread_prints_the_range_beside_the_median() -> None:
    assert str(ingest.Spread.of([3.0, 1.0, 2.0])) == "   2.00 (range 1.00-3.00)"


def test_spread_of_no_rounds_is_an_error() -> None:
    with pytest.raises(ValueError, match="no rounds"):
        ingest.Spread.of([])
