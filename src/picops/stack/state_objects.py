"""Where picops keeps its own objects inside the stack's buckets.

Part of the stack's naming, not of any engine: the IAM grants (`picops.stack.iam`), the sweeper, the Batch
Operations job and the ingest loop guard all read these, so they live below every one of them.
"""

from __future__ import annotations

# picops's own objects in UploadsBucket (the sweeper's continuation point) live here: never tagged, never
# ingested (preflight refuses an `[ingest] prefix` that covers it).
RESERVED_PREFIX = "_picops/"

# The hourly sweeper's continuation point, in UploadsBucket.
SWEEP_STATE_KEY = RESERVED_PREFIX + "moderation-sweep.json"

# S3 Batch Operations completion reports of `tag-backfill --engine batch-operations`, in ProcessedBucket.
BATCH_REPORT_PREFIX = "batch-reports/tag-backfill"

# The tag ledger's items in JobsTable (picops.core.tagging.ledger): pk = LEDGER_KEY_PREFIX + "<bucket>/<key>",
# sk = LEDGER_SORT_KEY. The ingest pipeline's items in the same table use other prefixes (`OBJ#...`, record
# ids); the taggers' IAM grants are conditioned on this prefix (picops.stack.iam.LEDGER_ONLY).
LEDGER_KEY_PREFIX = "LEDGER#"
LEDGER_SORT_KEY = "TAG"

# Ingest's thumbnails, in ProcessedBucket (`thumbnails/<original key>.jpg`).
INGEST_OUTPUT_PREFIX = "thumbnails/"
