"""Hypothesis properties of the tag merge and the inventory CSV parser."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from picops.core.tagging.merge import MAX_TAGS, merge_tags
from tests.tagging_support import CSV_SCHEMA, csv_gz

KEY = "moderation-status"
SCHEMA = tuple(p.strip() for p in CSV_SCHEMA.split(","))
tag_keys = st.text(st.characters(codec="utf-8", categories=["L", "N"]), min_size=1, max_size=8)
tag_sets = st.dictionaries(tag_keys, st.text(max_size=8), max_size=12)
verdicts = st.sampled_from(["approved", "flagged", "rejected"])


@given(tag_sets, verdicts, st.booleans(), st.booleans())
def test_merge_keeps_every_other_tag(
    tags: dict[str, str], verdict: str, has_ours: bool, overwrite: bool
) -> None:
    if has_ours:
        tags = {**tags, KEY: "flagged"}
    tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
    decision = merge_tags(tag_list, KEY, verdict, overwrite=overwrite)
    after = {t["Key"]: t["Value"] for t in decision.tags}
    others_before = {k: v for k, v in tags.items() if k != KEY}
    assert {k: v for k, v in after.items() if k != KEY} == others_before
    if decision.error is not None:
        assert not decision.changed
        assert len(others_before) >= MAX_TAGS
        assert KEY not in tags
        return
    if decision.changed:
        assert after[KEY] == verdict
        assert len(decision.tags) <= max(MAX_TAGS, len(tag_list))
        # idempotent: merging again changes nothing
        assert not merge_tags(decision.tags, KEY, verdict, overwrite=overwrite).changed
    else:
        assert after.get(KEY) == tags.get(KEY)
        assert tags.get(KEY) == verdict or (not overwrite and KEY in tags)


keys = st.text(
    st.characters(codec="utf-8", exclude_characters="\r\n\x00", exclude_categories=["Cs"]),
    min_size=1,
    max_size=40,
)
rows = st.lists(
    st.tuples(
        keys, st.one_of(st.just(""), st.text("abc123", min_size=1, max_size=5)), st.booleans(), st.booleans()
    ),
    max_size=30,
)


@settings(max_examples=150)
@given(rows)
def test_csv_parser_round_trips_any_key(data: list[tuple[str, str, bool, bool]]) -> None:
    from picops.core.tagging.sources.inventory import iter_csv_rows

    source = [("bkt", key, version, latest, marker) for key, version, latest, marker in data]
    parsed = list(iter_csv_rows(io.BytesIO(csv_gz(source)), SCHEMA))
    assert [(r.bucket, r.key, r.version_id or "", r.is_latest, r.is_delete_marker) for r in parsed] == source
