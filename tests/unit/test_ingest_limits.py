"""Index keys that embed an object key stay within DynamoDB's key limits, readable when they fit and a
stable, distinct digest when they do not (docs/ingest.md, "Limits and their errors")."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from picops.core.ingest.events import ObjectRef
from picops.core.ingest.jobs import failure_sk, job_pk, job_sk
from picops.core.ingest.limits import PARTITION_KEY_BYTES, SORT_KEY_BYTES

BUCKET = "picops-uploads-123456789012-us-east-1"
STAMP = "2026-12-04T06:00:00.000Z"
keys = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=1500)


def test_keys_that_fit_are_kept_readable() -> None:
    ref = ObjectRef(BUCKET, "incoming/photo.jpg", version_id="v1")
    assert job_pk(ref.bucket, ref.key) == f"OBJ#{BUCKET}/incoming/photo.jpg"
    assert job_sk(ref) == "V#v1"
    assert failure_sk(STAMP, job_pk(ref.bucket, ref.key), job_sk(ref)) == (
        f"{STAMP}#OBJ#{BUCKET}/incoming/photo.jpg#V#v1"
    )


@given(keys, keys)
def test_every_key_fits_and_distinct_keys_stay_distinct(first: str, second: str) -> None:
    a, b = ObjectRef(BUCKET, first, version_id="v1"), ObjectRef(BUCKET, second, version_id="v1")
    pk_a, pk_b = job_pk(a.bucket, a.key), job_pk(b.bucket, b.key)
    assert len(pk_a.encode()) <= PARTITION_KEY_BYTES
    sk_a = failure_sk(STAMP, pk_a, job_sk(a))
    assert len(sk_a.encode()) <= SORT_KEY_BYTES
    assert sk_a.startswith(f"{STAMP}#")
    assert job_pk(a.bucket, a.key) == pk_a  # stable: the reader finds what the writer wrote
    if first != second:
        assert pk_a != pk_b
        assert sk_a != failure_sk(STAMP, pk_b, job_sk(b))


def test_a_key_too_long_for_the_failure_index_is_hashed_there_only() -> None:
    key = "incoming/" + "k" * 1000 + ".jpg"  # a valid S3 key: the job item keeps it readable
    ref = ObjectRef(BUCKET, key, version_id="v1")
    assert job_pk(BUCKET, key) == f"OBJ#{BUCKET}/{key}"
    sk = failure_sk(STAMP, job_pk(BUCKET, key), job_sk(ref))
    assert sk.startswith(f"{STAMP}#H#")
    assert len(sk) == len(STAMP) + 1 + 2 + 64
