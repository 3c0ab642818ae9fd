from __future__ import annotations

from picops.core.tagging.merge import MAX_TAGS, merge_tags, remove_tag, tag_value_problem

KEY = "moderation-status"


def test_merge_adds_tag_and_keeps_others() -> None:
    tags = [{"Key": "owner", "Value": "ana"}, {"Key": "camera", "Value": "x100"}]
    decision = merge_tags(tags, KEY, "approved")
    assert decision.changed
    assert decision.old is None
    assert decision.tags == [*tags, {"Key": KEY, "Value": "approved"}]


def test_same_verdict_is_unchanged() -> None:
    tags = [{"Key": KEY, "Value": "approved"}, {"Key": "owner", "Value": "ana"}]
    decision = merge_tags(tags, KEY, "approved")
    assert not decision.changed
    assert decision.old == "approved"
    assert decision.error is None


def test_different_verdict_replaced_in_place_with_overwrite() -> None:
    tags = [{"Key": "a", "Value": "1"}, {"Key": KEY, "Value": "flagged"}, {"Key": "b", "Value": "2"}]
    decision = merge_tags(tags, KEY, "rejected")
    assert decision.changed
    assert decision.old == "flagged"
    assert decision.tags == [
        {"Key": "a", "Value": "1"},
        {"Key": KEY, "Value": "rejected"},
        {"Key": "b", "Value": "2"},
    ]


def test_no_overwrite_keeps_existing_verdict() -> None:
    tags = [{"Key": KEY, "Value": "flagged"}]
    decision = merge_tags(tags, KEY, "rejected", overwrite=False)
    assert not decision.changed
    assert decision.new == "flagged"
    # but an untagged object is still tagged
    assert merge_tags([], KEY, "rejected", overwrite=False).changed


def test_ten_other_tags_is_a_failure_with_reason() -> None:
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(MAX_TAGS)]
    decision = merge_tags(tags, KEY, "approved")
    assert not decision.changed
    assert decision.error is not None
    assert "10 tags" in decision.error


def test_ten_tags_including_ours_can_still_be_updated() -> None:
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(MAX_TAGS - 1)] + [{"Key": KEY, "Value": "flagged"}]
    decision = merge_tags(tags, KEY, "approved")
    assert decision.changed
    assert len(decision.tags) == MAX_TAGS


def test_invalid_tag_values_rejected_before_any_request() -> None:
    assert tag_value_problem("approved") is None
    assert tag_value_problem("a b_c-d.e:f/g@h+i=j") is None
    assert tag_value_problem("x" * 257) is not None
    assert tag_value_problem("bad*value") is not None
    assert merge_tags([], KEY, "no<way>").error is not None


def test_remove_tag() -> None:
    tags = [{"Key": KEY, "Value": "flagged"}, {"Key": "owner", "Value": "ana"}]
    decision = remove_tag(tags, KEY)
    assert decision.changed
    assert decision.tags == [{"Key": "owner", "Value": "ana"}]
    assert not remove_tag([{"Key": "owner", "Value": "ana"}], KEY).changed
