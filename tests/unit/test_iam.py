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


INVENTORY_BUCKET = "corp-inventory-reports"


def _model(**moderation: Any) -> Any:
    return build_model(load_settings(use_files=False, overrides={"moderation": moderation}), ACCOUNT, REGION)


def _roles() -> dict[str, dict[str, Any]]:
    """Function roles by function name."""
    return {r.function: json.loads(r.document) for r in _model().of_type(Role) if r.function}


def _all_roles(**moderation: Any) -> dict[str, dict[str, Any]]:
    """Every role of the model by logical name."""
    return {r.logical: json.loads(r.document) for r in _model(**moderation).of_type(Role)}


def _actions_resources(document: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = []
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            for resource in statement["Resource"]:
                pairs.append((action, resource))
    return pairs


@pytest.mark.parametrize("inventory_bucket", [None, INVENTORY_BUCKET])
def test_every_policy_is_free_of_wildcards_except_the_documented_ones(inventory_bucket: str | None) -> None:
    roles = _all_roles(inventory_bucket=inventory_bucket)
    assert len(roles) == 10  # one per function, ModerationBatchRole and CodeDeploy's service role
    assert {"ModerationBatchRole", "CodeDeployServiceRole"} <= set(roles)
    for logical, document in roles.items():
        assert wildcard_violations(document) == [], logical
        for action, resource in _actions_resources(document):
            assert "*" not in action or action in WILDCARD_ONLY_ACTIONS, (logical, action)
            assert resource != "*" or action in WILDCARD_ONLY_ACTIONS, (logical, action)
            if resource == "*":
                continue  # one of the documented actions AWS authorises only on "*"
            # Every ARN names this account, or is an S3 ARN of this stack's buckets or the configured
            # inventory bucket.
            assert (
                f":{ACCOUNT}:" in resource
                or resource.startswith("arn:aws:s3:::picops-")
                or resource == f"arn:aws:s3:::{INVENTORY_BUCKET}/*"
            ), resource


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
        # The stream handler tags current versions only; it reads verdicts from the record, not the table.
        ("ModerationStreamFunction", "s3:PutObjectVersionTagging", "uploads-", False),
        ("ModerationStreamFunction", "dynamodb:GetItem", "table/picops-moderation", False),
        ("ModerationStreamFunction", "dynamodb:BatchGetItem", "table/picops-moderation", False),
        ("ModerationSweepFunction", "s3:ListBucket", "uploads-", True),
        ("ModerationSweepFunction", "s3:ListBucketVersions", "uploads-", False),
        ("ModerationSweepFunction", "s3:PutObjectVersionTagging", "uploads-", True),
        ("ModerationSweepFunction", "dynamodb:BatchGetItem", "table/picops-moderation", True),
        ("ModerationSweepFunction", "dynamodb:Scan", "table/picops-moderation", False),
        ("ModerationSweepFunction", "dynamodb:GetItem", "table/picops-moderation", False),
        # The tag ledger: the sweeper reads and writes entries; the stream handler only deletes them.
        ("ModerationSweepFunction", "dynamodb:BatchGetItem", "table/picops-jobs", True),
        ("ModerationSweepFunction", "dynamodb:BatchWriteItem", "table/picops-jobs", True),
        ("ModerationSweepFunction", "dynamodb:PutItem", "table/picops-jobs", False),
        ("ModerationSweepFunction", "s3:GetObjectAttributes", "uploads-", True),
        # GetObjectAttributes is authorised only together with s3:GetObject on the object.
        ("ModerationSweepFunction", "s3:GetObject", "uploads-123456789012-us-west-2/*", True),
        ("ModerationStreamFunction", "dynamodb:BatchWriteItem", "table/picops-jobs", True),
        ("ModerationStreamFunction", "dynamodb:BatchGetItem", "table/picops-jobs", False),
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


def test_sweep_checkpoint_grant_names_exactly_the_continuation_object() -> None:
    statements = {s["Sid"]: s for s in _roles()["ModerationSweepFunction"]["Statement"]}
    checkpoint = statements["SweepCheckpoint"]
    assert checkpoint["Action"] == ["s3:PutObject"]  # read back through IdentifyUploads
    assert checkpoint["Resource"] == [
        f"arn:aws:s3:::picops-uploads-{ACCOUNT}-{REGION}/_picops/moderation-sweep.json"
    ]
    # No other statement of any role lets a function write object bodies in UploadsBucket, and reads are
    # the ingest function's prefix or the sweeper's identity lookups (GetObjectAttributes needs s3:GetObject).
    for function, document in _roles().items():
        for sid, statement in ((s["Sid"], s) for s in document["Statement"]):
            for action in statement["Action"]:
                for resource in statement["Resource"]:
                    if action not in {"s3:GetObject", "s3:PutObject"} or "uploads-" not in resource:
                        continue
                    assert (
                        resource.endswith("/_picops/moderation-sweep.json")
                        or (function == "IngestFunction" and resource.endswith("/incoming/*"))
                        or (sid == "IdentifyUploads" and action == "s3:GetObject")
                    ), (function, action, resource)


def _batch_role(**moderation: Any) -> Role:
    role = _model(**moderation).get("ModerationBatchRole")
    assert isinstance(role, Role)
    return role


def test_batch_role_is_trusted_by_batch_operations_of_this_account_only() -> None:
    role = _batch_role()
    assert role.name == "picops-moderation-batch-us-west-2"  # IAM is global: one per regional stack
    assert role.function == ""
    assert role.trust == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "batchoperations.s3.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
            }
        ],
    }
    # Function roles keep the Lambda trust, without a condition.
    function_role = _model().get("ModerationSweepFunctionRole")
    assert isinstance(function_role, Role)
    assert function_role.trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert "Condition" not in function_role.trust["Statement"][0]


def test_batch_role_grants_invoke_on_the_live_alias_report_writes_and_inventory_reads() -> None:
    pairs = set(_actions_resources(json.loads(_batch_role(inventory_bucket=INVENTORY_BUCKET).document)))
    assert pairs == {
        ("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:picops-moderation-sweep:live"),
        ("s3:PutObject", f"arn:aws:s3:::picops-processed-{ACCOUNT}-{REGION}/batch-reports/tag-backfill/*"),
        ("s3:GetObject", f"arn:aws:s3:::{INVENTORY_BUCKET}/*"),
        ("s3:GetObjectVersion", f"arn:aws:s3:::{INVENTORY_BUCKET}/*"),
    }


def test_batch_role_without_inventory_bucket_reads_nothing() -> None:
    pairs = _actions_resources(json.loads(_batch_role().document))
    assert {a for a, _ in pairs} == {"lambda:InvokeFunction", "s3:PutObject"}


@pytest.mark.parametrize("bad", ["s3://bucket", "Bucket", "b", "bucket/prefix"])
def test_inventory_bucket_must_be_a_bucket_name(bad: str) -> None:
    from picops.errors import ConfigError

    with pytest.raises(ConfigError, match="inventory_bucket"):
        load_settings(use_files=False, overrides={"moderation": {"inventory_bucket": bad}})


def test_taggers_may_touch_only_ledger_items_in_jobs_table() -> None:
    # JobsTable also holds the ingest pipeline's job items (OBJ#...) and records: every moderation grant on
    # it is conditioned on the LEDGER# partition-key prefix.
    for function in ("ModerationStreamFunction", "ModerationSweepFunction"):
        statements = [
            s
            for s in _roles()[function]["Statement"]
            if any(r.endswith(":table/picops-jobs") for r in s["Resource"])
        ]
        assert statements, function
        for statement in statements:
            assert statement["Condition"] == {
                "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["LEDGER#*"]}
            }, function


def test_list_streams_is_granted_on_star_where_it_can_take_effect() -> None:
    """dynamodb:ListStreams has no resource-level permissions: on a stream ARN it allowed nothing."""
    stream_role = _all_roles(inventory_bucket=None)["ModerationStreamFunctionRole"]
    listing = [s for s in stream_role["Statement"] if "dynamodb:ListStreams" in s["Action"]]
    assert [s["Resource"] for s in listing] == [["*"]]
    assert listing[0]["Action"] == ["dynamodb:ListStreams"]  # nothing else rides on the "*"
    assert "dynamodb:ListStreams" in WILDCARD_ONLY_ACTIONS
