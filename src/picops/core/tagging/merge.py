"""Tag-set merging: set the moderation tag, keep every other tag, and say whether anything changed.

Pure functions (no AWS) so property tests can hammer them. S3's limits are checked here, before a request:
at most 10 tags per object, keys up to 128 and values up to 256 Unicode characters drawn from letters,
digits, spaces and `+ - = . _ : / @`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MAX_TAGS = 10
MAX_VALUE_LEN = 256
MAX_KEY_LEN = 128
# S3's documented tag character set (Unicode letters and digits, whitespace, + - = . _ : / @).
_TAG_CHARS = re.compile(r"^[\w\s+\-=.:/@]*$", re.UNICODE)

TagSet = Sequence[Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class MergeDecision:
    """`tags` is the tag set to write when `changed`; `old` the current value of the moderation tag."""

    changed: bool
    tags: list[dict[str, str]]
    old: str | None
    new: str | None
    error: str | None = None


def tag_value_problem(value: str) -> str | None:
    """Why S3 would reject `value` as a tag value, or None if it is acceptable."""
    if len(value) > MAX_VALUE_LEN:
        return f"tag value longer than {MAX_VALUE_LEN} characters"
    if not _TAG_CHARS.match(value):
        return f"tag value {value!r} has characters S3 does not allow in tags"
    return None


def current_value(tags: TagSet, tag_key: str) -> str | None:
    for tag in tags:
        if tag.get("Key") == tag_key:
            return tag.get("Value")
    return None


def merge_tags(tags: TagSet, tag_key: str, verdict: str, *, overwrite: bool = True) -> MergeDecision:
    """Decide the tag set after setting `tag_key` = `verdict` on an object currently tagged `tags`."""
    old = current_value(tags, tag_key)
    kept = [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in tags]
    if old == verdict:
        return MergeDecision(False, kept, old, verdict)
    if old is not None and not overwrite:
        # --no-overwrite: an existing, different verdict tag stays as it is.
        return MergeDecision(False, kept, old, old)
    problem = tag_value_problem(verdict)
    if problem is not None:
        return MergeDecision(False, kept, old, verdict, error=problem)
    if old is None:
        if len(kept) >= MAX_TAGS:
            return MergeDecision(
                False, kept, old, verdict, error=f"object already has {len(kept)} tags (S3 allows {MAX_TAGS})"
            )
        return MergeDecision(True, [*kept, {"Key": tag_key, "Value": verdict}], old, verdict)
    merged = [{"Key": t["Key"], "Value": verdict if t["Key"] == tag_key else t["Value"]} for t in kept]
    return MergeDecision(True, merged, old, verdict)


def remove_tag(tags: TagSet, tag_key: str) -> MergeDecision:
    """The tag set without `tag_key` (for a verdict deleted from the table, when configured to remove)."""
    old = current_value(tags, tag_key)
    kept = [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in tags if t.get("Key") != tag_key]
    return MergeDecision(old is not None, kept, old, None)
