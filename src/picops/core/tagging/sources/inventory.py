"""S3 Inventory reports as a candidate source, verified and streamed.

`manifest.json` is checked against `manifest.checksum` (its MD5) and each data file against the manifest's
`MD5checksum` before a single row of it is used: a data file is downloaded to a temporary file while hashing,
then parsed from disk, so a corrupt file is refused without tagging anything from it and memory stays flat.
CSV files are gzip, headerless, quoted, with the columns named by `fileSchema` and keys URL-encoded (`+` is
a space). Parquet is read in record batches with pyarrow (extra `picops[parquet]`). ORC is refused. Delete
markers and non-latest versions are skipped.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote_plus

from picops.core.tagging.ledger import normalise_etag, normalise_last_modified
from picops.core.tagging.model import Candidate, StreamDone
from picops.errors import UsageError, ValidationFailed

DOWNLOAD_CHUNK = 1 << 20
PARQUET_BATCH_ROWS = 8192
_CSV_REQUIRED = ("Bucket", "Key")


@dataclass(frozen=True)
class InventoryFile:
    key: str
    size: int
    md5: str


@dataclass(frozen=True)
class Manifest:
    url: str
    bucket: str
    key: str
    etag: str
    source_bucket: str
    files_bucket: str
    file_format: str
    schema: tuple[str, ...]
    files: tuple[InventoryFile, ...]


@dataclass(frozen=True, slots=True)
class InventoryRow:
    bucket: str
    key: str
    version_id: str | None
    is_latest: bool
    is_delete_marker: bool
    # Present when the inventory is configured with the optional ETag and LastModifiedDate fields (the tag
    # ledger needs both to skip an object).
    etag: str | None = None
    last_modified: str | None = None


def parse_s3_url(url: str) -> tuple[str, str]:
    if not url.startswith("s3://"):
        raise UsageError(f"{url!r} is not an s3:// URL", hint="like s3://bucket/path/manifest.json")
    bucket, _, key = url[5:].partition("/")
    if not bucket or not key:
        raise UsageError(f"{url!r} needs a bucket and a key", hint="like s3://bucket/path/manifest.json")
    return bucket, key


def _bucket_from_arn(value: str) -> str:
    return value.rsplit(":", 1)[-1] if value.startswith("arn:") else value


def load_manifest(s3: Any, url: str) -> Manifest:
    """Fetch and verify an inventory manifest (its `manifest.checksum` sibling must match)."""
    bucket, key = parse_s3_url(url)
    if not key.endswith("manifest.json"):
        raise UsageError(f"{url} is not an inventory manifest.json")
    response = s3.get_object(Bucket=bucket, Key=key)
    body: bytes = response["Body"].read()
    checksum_key = key[: -len("manifest.json")] + "manifest.checksum"
    expected = s3.get_object(Bucket=bucket, Key=checksum_key)["Body"].read().decode("ascii", "replace")
    expected = expected.strip().lower()
    actual = hashlib.md5(body).hexdigest()
    if actual != expected:
        raise ValidationFailed(
            f"inventory manifest {url} does not match manifest.checksum (MD5 {actual}, expected {expected})",
            hint="the report is incomplete or was modified; use a complete inventory delivery",
        )
    return parse_manifest(body, url=url, bucket=bucket, key=key, etag=str(response.get("ETag", "")))


def parse_manifest(body: bytes, *, url: str, bucket: str, key: str, etag: str = "") -> Manifest:
    try:
        raw = json.loads(body)
        file_format = str(raw["fileFormat"])
        schema_text = str(raw["fileSchema"])
        files = tuple(
            InventoryFile(str(f["key"]), int(f.get("size", 0)), str(f["MD5checksum"]).lower())
            for f in raw["files"]
        )
        source_bucket = str(raw["sourceBucket"])
        files_bucket = _bucket_from_arn(str(raw.get("destinationBucket") or bucket))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationFailed(f"inventory manifest {url} is malformed: {exc!r}") from None
    fmt = file_format.upper()
    if fmt == "ORC":
        raise UsageError(
            f"inventory {url} is in ORC format, which picops does not support",
            hint="configure the inventory report as CSV or Parquet",
        )
    if fmt == "CSV":
        schema = tuple(part.strip() for part in schema_text.split(","))
        missing = [c for c in _CSV_REQUIRED if c not in schema]
        if missing:
            raise ValidationFailed(f"inventory {url} fileSchema lacks {', '.join(missing)}")
    elif fmt == "PARQUET":
        schema = ()
    else:
        raise ValidationFailed(f"inventory {url} has unknown fileFormat {file_format!r}")
    return Manifest(url, bucket, key, etag, source_bucket, files_bucket, fmt, schema, files)


# -- CSV ---------------------------------------------------------------------------------------------


def _truthy(value: str) -> bool:
    return value.lower() == "true"


def iter_csv_rows(
    stream: IO[bytes], schema: tuple[str, ...], *, name: str = "inventory file"
) -> Iterator[InventoryRow]:
    """Rows of one gzip CSV inventory file, streamed (the file is never loaded whole)."""
    width = len(schema)
    i_bucket = schema.index("Bucket")
    i_key = schema.index("Key")
    i_version = schema.index("VersionId") if "VersionId" in schema else -1
    i_latest = schema.index("IsLatest") if "IsLatest" in schema else -1
    i_marker = schema.index("IsDeleteMarker") if "IsDeleteMarker" in schema else -1
    i_etag = schema.index("ETag") if "ETag" in schema else -1
    i_modified = schema.index("LastModifiedDate") if "LastModifiedDate" in schema else -1
    text = io.TextIOWrapper(gzip.GzipFile(fileobj=stream, mode="rb"), encoding="utf-8", newline="")
    try:
        for line, row in enumerate(csv.reader(text), start=1):
            if len(row) != width:
                raise ValidationFailed(f"{name} row {line} has {len(row)} fields; fileSchema names {width}")
            key = row[i_key]
            # Only decode when needed: unquote_plus is the slowest part of a row.
            if "%" in key or "+" in key:
                key = unquote_plus(key, encoding="utf-8", errors="strict")
            version = row[i_version] if i_version >= 0 else ""
            yield InventoryRow(
                row[i_bucket],
                key,
                version or None,
                _truthy(row[i_latest]) if i_latest >= 0 and row[i_latest] else True,
                _truthy(row[i_marker]) if i_marker >= 0 and row[i_marker] else False,
                normalise_etag(row[i_etag]) if i_etag >= 0 else None,
                normalise_last_modified(row[i_modified]) if i_modified >= 0 else None,
            )
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise ValidationFailed(f"{name} is not a readable gzip CSV inventory file: {exc}") from None


# -- Parquet -----------------------------------------------------------------------------------------


def iter_parquet_rows(path: Path, *, name: str = "inventory file") -> Iterator[InventoryRow]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError(
            "this inventory is in Parquet format, which needs pyarrow",
            hint="install it with `pip install 'picops[parquet]'`",
        ) from None
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:
        raise ValidationFailed(f"{name} is not a readable Parquet file: {exc}") from None
    names = set(parquet.schema_arrow.names)
    if not {"bucket", "key"} <= names:
        raise ValidationFailed(f"{name} lacks the bucket/key columns")
    wanted = [
        c
        for c in (
            "bucket",
            "key",
            "version_id",
            "is_latest",
            "is_delete_marker",
            "e_tag",
            "last_modified_date",
        )
        if c in names
    ]
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=wanted):
        columns = {c: batch.column(c).to_pylist() for c in wanted}
        for i in range(batch.num_rows):
            latest = columns["is_latest"][i] if "is_latest" in columns else None
            marker = columns["is_delete_marker"][i] if "is_delete_marker" in columns else None
            version = columns["version_id"][i] if "version_id" in columns else None
            etag = columns["e_tag"][i] if "e_tag" in columns else None
            modified = columns["last_modified_date"][i] if "last_modified_date" in columns else None
            # Parquet inventory keys are not URL-encoded (only CSV's are).
            yield InventoryRow(
                str(columns["bucket"][i]),
                str(columns["key"][i]),
                str(version) if version else None,
                True if latest is None else bool(latest),
                False if marker is None else bool(marker),
                normalise_etag(etag),
                normalise_last_modified(modified),
            )


# -- download + candidates ---------------------------------------------------------------------------


def download_verified(s3: Any, bucket: str, key: str, md5: str, directory: str | None = None) -> Path:
    """Copy s3://bucket/key to a temporary file, refusing it (and deleting it) if its MD5 differs."""
    digest = hashlib.md5()
    fd, name = tempfile.mkstemp(prefix="picops-inventory-", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
            for block in iter(lambda: body.read(DOWNLOAD_CHUNK), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != md5:
            raise ValidationFailed(
                f"inventory file s3://{bucket}/{key} has MD5 {digest.hexdigest()}, manifest says {md5}",
                hint="the report is corrupt or incomplete; nothing from this file was tagged",
            )
        return path
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def iter_rows(path: Path, manifest: Manifest, name: str) -> Iterator[InventoryRow]:
    if manifest.file_format == "CSV":
        with path.open("rb") as fh:
            yield from iter_csv_rows(fh, manifest.schema, name=name)
    else:
        yield from iter_parquet_rows(path, name=name)


def stream_name(file: InventoryFile) -> str:
    return f"file:{file.key}"


def inventory_candidates(
    s3: Any,
    manifest: Manifest,
    *,
    positions: Mapping[str, Mapping[str, Any]] | None = None,
    temp_dir: str | None = None,
) -> Iterator[Candidate | StreamDone]:
    """Latest, non-deleted objects of every data file; a file's cursor is the number of rows consumed."""
    positions = positions or {}
    for file in manifest.files:
        name = stream_name(file)
        saved = positions.get(name, {})
        if saved.get("done"):
            continue
        skip = int(saved.get("cursor") or 0)
        path = download_verified(s3, manifest.files_bucket, file.key, file.md5, temp_dir)
        try:
            for index, row in enumerate(
                iter_rows(path, manifest, f"s3://{manifest.files_bucket}/{file.key}"), 1
            ):
                if index <= skip or row.is_delete_marker or not row.is_latest:
                    continue
                yield Candidate(row.bucket, row.key, row.version_id, name, index, row.etag, row.last_modified)
        finally:
            path.unlink(missing_ok=True)
        yield StreamDone(name)


def count_rows(s3: Any, manifest: Manifest, *, temp_dir: str | None = None) -> int:
    """Every row of the inventory's data files: what S3 Batch Operations would process (and bill) as tasks."""
    total = 0
    for file in manifest.files:
        path = download_verified(s3, manifest.files_bucket, file.key, file.md5, temp_dir)
        try:
            total += sum(1 for _ in iter_rows(path, manifest, f"s3://{manifest.files_bucket}/{file.key}"))
        finally:
            path.unlink(missing_ok=True)
    return total
