from __future__ import annotations

import gzip
import io
import json

import pytest

from picops.core.tagging.sources.inventory import iter_csv_rows, parse_manifest, parse_s3_url
from picops.errors import UsageError, ValidationFailed
from tests.tagging_support import CSV_SCHEMA, csv_gz

SCHEMA = tuple(p.strip() for p in CSV_SCHEMA.split(","))


def test_csv_rows_decode_keys_and_flags() -> None:
    keys = ["a b.jpg", "plus+sign.jpg", "percent%20literal.jpg", "ünïcødé/写真.jpg", 'quote"comma,.jpg']
    rows = [("bkt", k, "", True, False) for k in keys] + [("bkt", "v.jpg", "v1", False, True)]
    parsed = list(iter_csv_rows(io.BytesIO(csv_gz(rows)), SCHEMA))
    assert [r.key for r in parsed] == [*keys, "v.jpg"]
    assert parsed[0].version_id is None
    assert parsed[-1].version_id == "v1"
    assert parsed[-1].is_delete_marker
    assert not parsed[-1].is_latest


def test_quoted_fields_with_commas_and_literal_plus_encoding() -> None:
    # What S3 writes: the key URL-encoded, a space as '+', a real '+' as %2B, every field quoted.
    line = b'"bkt","dir/a+b%2Bc%2C.jpg","","true","false","1","2026-11-01T00:00:00.000Z"\n'
    (row,) = iter_csv_rows(io.BytesIO(gzip.compress(line)), SCHEMA)
    assert row.key == "dir/a b+c,.jpg"


def test_wrong_field_count_is_refused_with_line_number() -> None:
    data = gzip.compress(b'"bkt","k","","true","false","1","t"\n"bkt","k2"\n')
    with pytest.raises(ValidationFailed, match="row 2"):
        list(iter_csv_rows(io.BytesIO(data), SCHEMA))


def test_not_gzip_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="gzip"):
        list(iter_csv_rows(io.BytesIO(b"plain text"), SCHEMA))


def _manifest(fmt: str, schema: str = CSV_SCHEMA) -> bytes:
    doc = {
        "sourceBucket": "src",
        "destinationBucket": "arn:aws:s3:::dst",
        "fileFormat": fmt,
        "fileSchema": schema,
        "files": [{"key": "f.csv.gz", "size": 1, "MD5checksum": "ABC"}],
    }
    return json.dumps(doc).encode()


def test_manifest_parsing() -> None:
    m = parse_manifest(_manifest("CSV"), url="s3://dst/m/manifest.json", bucket="dst", key="m/manifest.json")
    assert m.schema[:2] == ("Bucket", "Key")
    assert m.files_bucket == "dst"
    assert m.files[0].md5 == "abc"
    with pytest.raises(UsageError, match="ORC"):
        parse_manifest(_manifest("ORC"), url="u", bucket="dst", key="k")
    with pytest.raises(ValidationFailed, match="Key"):
        parse_manifest(_manifest("CSV", "Bucket, Size"), url="u", bucket="dst", key="k")
    with pytest.raises(ValidationFailed, match="malformed"):
        parse_manifest(b"{}", url="u", bucket="dst", key="k")


def test_s3_urls() -> None:
    assert parse_s3_url("s3://b/x/manifest.json") == ("b", "x/manifest.json")
    for bad in ("b/x", "s3://b", "s3:///x"):
        with pytest.raises(UsageError):
            parse_s3_url(bad)
