from __future__ import annotations

import pytest

from picops.core.tagging.sources.listing import range_bounds


def _range_of(key: str, bounds: list[tuple[str | None, str | None]]) -> list[int]:
    return [
        i
        for i, (low, high) in enumerate(bounds)
        if (low is None or key > low) and (high is None or key <= high)
    ]


@pytest.mark.parametrize("ranges", [1, 2, 5, 62, 100])
def test_ranges_partition_every_key(ranges: int) -> None:
    bounds = range_bounds("p/", ranges)
    assert len(bounds) == min(ranges, 62)
    keys = ["p/", "p/0", "p/00", "p/A", "p/Zz", "p/a", "p/z~", "p/ü", "p/!", "p/ ", "p/~~", "p/M", "p/m1"]
    for key in keys:
        assert len(_range_of(key, bounds)) == 1, key
