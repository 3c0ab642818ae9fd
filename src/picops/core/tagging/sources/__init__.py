"""Where the tagging engine's candidates come from: a bucket listing or an S3 Inventory report."""

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
