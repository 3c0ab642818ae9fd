"""parliament (an IAM linter) over every policy the model generates: each role's permissions and the bucket
and queue resource policies, in every partition. Its findings must be zero; a finding that is right to keep
goes in ACCEPTED with the reason, and an accepted finding that no longer occurs fails too (so the list never
goes stale).

Trust policies are not linted by parliament: it reads every document as an identity policy, and a trust
policy has no `Resource` by definition (it would report each as MALFORMED). tests/unit/test_iam.py checks
them instead (the right service principal, this account only)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from parliament import analyze_policy_string

from picops.config import Settings
from picops.stack.build import build_model
from picops.stack.model import BucketPolicy, QueuePolicy, Role, StackModel

# (policy, parliament issue) -> why it stays.
ACCEPTED: dict[tuple[str, str], str] = {
    # parliament's bundled action table lists only the access-point resource for GetObjectAttributes; the
    # Service Authorization Reference gives it the `object*` resource type (arn:<partition>:s3:::bucket/key),
    # which is what the sweeper's ledger identity lookup is granted on.
    ("ModerationSweepFunctionRole", "RESOURCE_MISMATCH"): "parliament's action table predates object ARNs",
}


def _policies(model: StackModel) -> dict[str, str]:
    out: dict[str, str] = {}
    for role in model.of_type(Role):
        out[role.logical] = role.document
    for policy in (*model.of_type(BucketPolicy), *model.of_type(QueuePolicy)):
        out[policy.logical] = policy.document
    return out


@pytest.mark.parametrize(
    ("region", "moderation"),
    [
        ("us-east-1", {}),
        ("eu-west-1", {"inventory_bucket": "corp-inventory-reports"}),
        ("us-gov-west-1", {"inventory_bucket": "corp-inventory-reports"}),
        ("cn-north-1", {}),
    ],
)
def test_every_generated_policy_passes_parliament(region: str, moderation: dict[str, Any]) -> None:
    model = build_model(Settings(moderation=moderation), "123456789012", region)  # type: ignore[arg-type]
    policies = _policies(model)
    # every role, bucket policy and queue policy of the model, and there are some of each
    assert len(policies) == sum(len(model.of_type(t)) for t in (Role, BucketPolicy, QueuePolicy))
    assert all(model.of_type(t) for t in (Role, BucketPolicy, QueuePolicy))
    findings: list[str] = []
    seen: set[tuple[str, str]] = set()
    for name, document in policies.items():
        analysed = analyze_policy_string(document, include_community_auditors=True)
        for finding in analysed.findings:
            key = (name, finding.issue)
            if key in ACCEPTED:
                seen.add(key)
                continue
            findings.append(f"{name}: {finding.issue} {finding.detail}")
    assert findings == []
    assert set(ACCEPTED) <= seen


def test_parliament_catches_what_the_old_grant_got_wrong() -> None:
    """The check can fail: ListStreams on a stream ARN (what the stream role granted before) is a finding."""
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["dynamodb:ListStreams"],
                    "Resource": ["arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/*"],
                }
            ],
        }
    )
    issues = {f.issue for f in analyze_policy_string(document).findings}
    assert "RESOURCE_MISMATCH" in issues
