"""Where the tagging engine's candidates come from: a bucket listing or an S3 Inventory report.

The names load lazily (PEP 562): the hourly sweeper lists the bucket and never loads the inventory reader
(docs/architecture.md, "Cold start").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from picops import lazy

if TYPE_CHECKING:
    from picops.core.tagging.sources.inventory import (
        InventoryFile,
        InventoryRow,
        Manifest,
        count_rows,
        inventory_candidates,
        iter_csv_rows,
        iter_parquet_rows,
        iter_rows,
        load_manifest,
        parse_manifest,
        parse_s3_url,
    )
    from picops.core.tagging.sources.listing import PAGE_SIZE, list_candidates, range_bounds

_INVENTORY = "picops.core.tagging.sources.inventory"
_LISTING = "picops.core.tagging.sources.listing"
_HOMES: lazy.Homes = {
    "InventoryFile": _INVENTORY,
    "InventoryRow": _INVENTORY,
    "Manifest": _INVENTORY,
    "count_rows": _INVENTORY,
    "inventory_candidates": _INVENTORY,
    "iter_csv_rows": _INVENTORY,
    "iter_parquet_rows": _INVENTORY,
    "iter_rows": _INVENTORY,
    "load_manifest": _INVENTORY,
    "parse_manifest": _INVENTORY,
    "parse_s3_url": _INVENTORY,
    "PAGE_SIZE": _LISTING,
    "list_candidates": _LISTING,
    "range_bounds": _LISTING,
    # The submodules themselves (`from picops.core.tagging.sources import listing`).
    "inventory": ("picops.core.tagging.sources", "inventory"),
    "listing": ("picops.core.tagging.sources", "listing"),
}

__getattr__ = lazy.exports(__name__, _HOMES)

__all__ = [
    "PAGE_SIZE",
    "InventoryFile",
    "InventoryRow",
    "Manifest",
    "count_rows",
    "inventory_candidates",
    "iter_csv_rows",
    "iter_parquet_rows",
    "iter_rows",
    "list_candidates",
    "load_manifest",
    "parse_manifest",
    "parse_s3_url",
    "range_bounds",
]
