"""The AWS limits an object version meets on its way through ingest, checked before anything is written.

A request over one of these limits fails the same way on every retry, so each is checked up front and
turned into a FAILED reason that names the limit (docs/ingest.md, "Limits and their errors"). Index keys
that embed an object key (the job item's keys, the failure index's sort key) fall back to a SHA-256 of the
embedded part when they would not fit; the readable key stays in the item's attributes.
"""

from __future__ import annotations

import hashlib

# DynamoDB key attribute sizes (UTF-8 bytes).
PARTITION_KEY_BYTES = 2048
SORT_KEY_BYTES = 1024
# S3 object key length and the user-defined metadata of one object (names plus values, UTF-8 bytes).
S3_KEY_BYTES = 1024
S3_METADATA_BYTES = 2048
# Marks a key part replaced by its digest. `#` never occurs in a bucket name or an S3 version id, so a
# hashed key cannot collide with a readable one.
HASHED = "H#"


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def fitted(prefix: str, part: str, limit: int) -> str:
    """`prefix + part` when it fits in `limit` bytes, else `prefix + H# + sha256(part)`."""
    whole = prefix + part
    if utf8_len(whole) <= limit:
        return whole
    return f"{prefix}{HASHED}{digest(part)}"


def metadata_bytes(metadata: dict[str, str]) -> int:
    """S3's measure of user-defined metadata: the UTF-8 bytes of every name and value."""
    return sum(utf8_len(name) + utf8_len(value) for name, value in metadata.items())
