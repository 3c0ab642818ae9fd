"""Shared arrangements for the moderation-tagging tests: the stack's bucket and table, objects, verdicts."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote_plus

from picops.config import Settings
from picops.stack.names import StackNames

TAG_KEY = "moderation-status"
ODD_KEYS = [
    "incoming/with space.jpg",
    "incoming/plus+sign.jpg",
    "incoming/percent%20literal.jpg",
    "incoming/ünïcødé-写真.jpg",
    "incoming/mixed + %2B & spaces.png",
]


def names(factory: Any, settings: Settings | None = None) -> StackNames:
    return StackNames(settings or Settings(), factory.account_id(), factory.region)


def create_stack(
    factory: Any, *, versioned: bool = False, settings: Settings | None = None, jobs_table: bool = True
) -> StackNames:
    """UploadsBucket, ModerationTable and JobsTable (the tag ledger's table) as provision makes them."""
    stack = names(factory, settings)
    s3 = factory.client("s3")
    s3.create_bucket(Bucket=stack.uploads_bucket)
    s3.create_bucket(Bucket=stack.processed_bucket)
    if versioned:
        s3.put_bucket_versioning(Bucket=stack.uploads_bucket, VersioningConfiguration={"Status": "Enabled"})
    factory.client("dynamodb").create_table(
        TableName=stack.moderation_table,
        AttributeDefinitions=[{"AttributeName": "object_key", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "object_key", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    if jobs_table:
        factory.client("dynamodb").create_table(
            TableName=stack.jobs_table,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
    return stack


def ledger_items(factory: Any, table: str) -> dict[str, dict[str, str]]:
    """Every tag-ledger item in JobsTable: pk -> its string attributes."""
    out: dict[str, dict[str, str]] = {}
    paginator = factory.client("dynamodb").get_paginator("scan")
    for page in paginator.paginate(TableName=table):
        for item in page.get("Items", []):
            if item["pk"]["S"].startswith("LEDGER#"):
                out[item["pk"]["S"]] = {k: next(iter(v.values())) for k, v in item.items()}
    return out


def put_objects(
    factory: Any, bucket: str, keys: Iterable[str], tags: Mapping[str, Mapping[str, str]] | None = None
) -> dict[str, str | None]:
    """Upload tiny objects; returns key -> VersionId (None when unversioned)."""
    s3 = factory.client("s3")
    versions: dict[str, str | None] = {}
    for key in keys:
        extra: dict[str, Any] = {}
        if tags and key in tags:
            extra["Tagging"] = "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in tags[key].items())
        response = s3.put_object(Bucket=bucket, Key=key, Body=b"x", **extra)
        versions[key] = response.get("VersionId")
    return versions


def put_verdicts(factory: Any, table: str, verdicts: Mapping[str, Any]) -> None:
    ddb = factory.client("dynamodb")
    for key, verdict in verdicts.items():
        item: dict[str, Any] = {"object_key": {"S": key}}
        if isinstance(verdict, dict):
            item["status"] = verdict
        elif verdict is not None:
            item["status"] = {"S": verdict}
        ddb.put_item(TableName=table, Item=item)


def tags_of(factory: Any, bucket: str, key: str, version: str | None = None) -> dict[str, str]:
    extra = {"VersionId": version} if version else {}
    response = factory.client("s3").get_object_tagging(Bucket=bucket, Key=key, **extra)
    return {t["Key"]: t["Value"] for t in response["TagSet"]}


def all_tags(factory: Any, bucket: str, prefix: str = "") -> dict[str, dict[str, str]]:
    s3 = factory.client("s3")
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = tags_of(factory, bucket, obj["Key"])
    return out


# -- inventory ------------------------------------------------------------------------------------------

CSV_SCHEMA = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate"


def csv_gz(rows: Iterable[tuple[str, str, str, bool, bool]]) -> bytes:
    """A headerless, quoted, gzip CSV inventory file (keys URL-encoded the way S3 writes them)."""
    text = io.StringIO()
    for bucket, key, version, latest, marker in rows:
        fields = [
            bucket,
            quote_plus(key, safe="/"),
            version,
            str(latest).lower(),
            str(marker).lower(),
            "1",
            "2026-11-01T00:00:00.000Z",
        ]
        text.write(",".join(f'"{f}"' for f in fields) + "\n")
    return gzip.compress(text.getvalue().encode())


def put_inventory(
    factory: Any,
    bucket: str,
    source_bucket: str,
    files: list[bytes],
    *,
    prefix: str = "inventory/uploads/2026-11-01T00-00Z/",
    file_format: str = "CSV",
    schema: str = CSV_SCHEMA,
    corrupt_checksum: bool = False,
    corrupt_file_md5: bool = False,
) -> str:
    """Upload data files, manifest.json and manifest.checksum; returns the manifest's s3:// URL."""
    s3 = factory.client("s3")
    entries = []
    for i, body in enumerate(files):
        ext = "csv.gz" if file_format == "CSV" else file_format.lower()
        key = f"inventory/uploads/data/file-{i}.{ext}"
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        md5 = hashlib.md5(body).hexdigest()
        if corrupt_file_md5:
            md5 = hashlib.md5(body + b"!").hexdigest()
        entries.append({"key": key, "size": len(body), "MD5checksum": md5})
    manifest = {
        "sourceBucket": source_bucket,
        "destinationBucket": f"arn:aws:s3:::{bucket}",
        "version": "2016-11-30",
        "creationTimestamp": "1793491200000",
        "fileFormat": file_format,
        "fileSchema": schema,
        "files": entries,
    }
    body = json.dumps(manifest, indent=2).encode()
    s3.put_object(Bucket=bucket, Key=prefix + "manifest.json", Body=body)
    checksum = hashlib.md5(body + (b" " if corrupt_checksum else b"")).hexdigest()
    s3.put_object(Bucket=bucket, Key=prefix + "manifest.checksum", Body=checksum.encode() + b"\n")
    return f"s3://{bucket}/{prefix}manifest.json"
