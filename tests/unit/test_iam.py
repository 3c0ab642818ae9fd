"""IAM policies generated from the model: no `*` beyond the documented list, scoped to this stack's ARNs.

moto does not evaluate resource-scoped policies, so this is asserted statically.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from picops.config import load_settings
from picops.stack.build import build_model
from picops.stack.iam import WILDCARD_ONLY_ACTIONS, wildcard_violations
from picops.stack.model import Role

ACCOUNT, REGION = "123456789012", "us-west-2"


def _roles() -> dict[str, dict[str, Any]]:
    model = build_model(load_settings(use_files=False), ACCOUNT, REGION)
    return {r.function: json.loads(r.document) for r in model.of_type(Role)}


def _actions_resources(document: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = []
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            for resource in statement["Resource"]:
                pairs.append((action, resource))
    return pairs


def test_every_policy_is_free_of_wildcards_except_the_documented_ones() -> None:
    roles = _roles()
    assert len(roles) == 6
    for function, document in roles.items():
        assert wildcard_violations(document) == [], function
        for action, resource in _actions_resources(document):
            assert "*" not in action or action in WILDCARD_ONLY_ACTIONS, (function, action)
            assert resource != "*" or action in WILDCARD_ONLY_ACTIONS, (function, action)
            # Every ARN names this account (or is an S3 ARN of this stack's buckets).
            assert f":{ACCOUNT}:" in resource or resource.startswith("arn:aws:s3:::picops-"), resource


def test_the_walk_catches_wildcards() -> None:
    bad = {
        "Statement": [
            {"Sid": "A", "Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::b/*"]},
            {"Sid": "B", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": "*"},
            {"Sid": "C", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::*"]},
            {"Sid": "D", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": ["arn:aws:sqs:*:1:q"]},
            {
                "Sid": "E",
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem"],
                "Resource": ["arn:aws:dynamodb:r:1:table/*"],
            },
            {"Sid": "F", "Effect": "Allow", "Action": ["xray:PutTraceSegments"], "Resource": "*"},
        ]
    }
    problems = wildcard_violations(bad)
    assert [p.split(":")[0] for p in problems] == ["A", "B", "C", "D", "E"]


@pytest.mark.parametrize(
    ("function", "action", "resource_part", "allowed"),
    [
        ("IngestFunction", "sqs:ReceiveMessage", ":picops-ingest", True),
        ("IngestFunction", "sqs:ReceiveMessage", ":picops-payment.fifo", False),
        ("IngestFunction", "dynamodb:PutItem", "table/picops-bookings", False),
        ("IngestFunction", "s3:GetObject", "uploads-123456789012-us-west-2/incoming/*", True),
        ("IngestFunction", "s3:PutObject", "uploads-", False),
        ("ModerationStreamFunction", "dynamodb:GetRecords", "table/picops-moderation/stream/*", True),
        ("ModerationStreamFunction", "s3:PutObjectTagging", "uploads-", True),
        ("ModerationStreamFunction", "s3:PutObject", "uploads-", False),
        ("ModerationSweepFunction", "s3:ListBucket", "uploads-", True),
        ("BookingApiFunction", "sns:Publish", "picops-booking.fifo", True),
        ("BookingApiFunction", "sqs:ReceiveMessage", "", False),
        ("PaymentFunction", "sqs:DeleteMessage", "picops-payment.fifo", True),
        ("InventoryFunction", "sqs:DeleteMessage", "picops-payment.fifo", False),
    ],
)
def test_each_role_gets_what_its_function_uses_and_nothing_else(
    function: str, action: str, resource_part: str, allowed: bool
) -> None:
    pairs = _actions_resources(_roles()[function])
    found = any(a == action and resource_part in r for a, r in pairs)
    assert found is allowed


def test_log_permissions_are_scoped_to_the_functions_own_log_group() -> None:
    for function, document in _roles().items():
        logs = [r for a, r in _actions_resources(document) if a.startswith("logs:")]
        assert logs, function
        assert all(r.endswith(":*") and ":log-group:/aws/lambda/picops-" in r for r in logs)
        assert not any(a == "logs:CreateLogGroup" for a, _ in _actions_resources(document))
