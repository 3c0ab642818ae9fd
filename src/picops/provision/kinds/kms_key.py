"""AWS::KMS::Key: a stack-owned customer managed key (rotation on), found by its alias because KMS assigns
key ids. Deleting schedules the key's deletion; `provision` meanwhile makes a new key under the same alias."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from picops.aws_errors import error_code
from picops.provision.kinds._common import GONE, describe_or_none, ignore_missing
from picops.provision.propagation import wait_for_propagation
from picops.stack.model import KmsKey, StackModel, canonical

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = KmsKey

# KMS never deletes a key at once: the shortest waiting period, during which `provision` can make a new one.
KEY_DELETION_WINDOW_DAYS = 7


def read(r: KmsKey, ctx: Context) -> dict[str, Any] | None:
    """A stack key is found by its alias; one pending deletion (after `destroy`) counts as gone."""
    kms = ctx.client("kms")
    found = describe_or_none(lambda: kms.describe_key(KeyId=r.name), {"NotFoundException"})
    if found is None:
        return None
    meta = found["KeyMetadata"]
    if meta.get("KeyState") in ("PendingDeletion", "PendingReplicaDeletion"):
        return None
    key_id = meta["KeyId"]
    ctx.remember(r.logical, KeyId=key_id, KeyArn=meta.get("Arn"))
    policy = kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    rotation = kms.get_key_rotation_status(KeyId=key_id).get("KeyRotationEnabled", False)
    return {
        "KeyPolicy": canonical(policy),
        "KeyRotationEnabled": bool(rotation),
        "Enabled": bool(meta.get("Enabled")),
    }


def desired(r: KmsKey, ctx: Context) -> dict[str, Any]:
    return r.desired()


def _create(r: KmsKey, ctx: Context) -> None:
    kms = ctx.client("kms")
    # The policy names roles created moments ago: KMS refuses principals it cannot see yet.
    key = wait_for_propagation(
        lambda: kms.create_key(
            Description=r.description,
            KeyUsage="ENCRYPT_DECRYPT",
            KeySpec="SYMMETRIC_DEFAULT",
            Policy=r.document,
            Tags=[{"TagKey": "picops:stack", "TagValue": ctx.model.stack}],
        )
    )["KeyMetadata"]
    key_id = key["KeyId"]
    ctx.remember(r.logical, KeyId=key_id, KeyArn=key.get("Arn"))
    _alias(r, key_id, ctx)
    kms.enable_key_rotation(KeyId=key_id)


def _alias(r: KmsKey, key_id: str, ctx: Context) -> None:
    kms = ctx.client("kms")
    try:
        kms.create_alias(AliasName=r.name, TargetKeyId=key_id)
    except botocore.exceptions.ClientError as exc:
        # The alias outlived its key (scheduled for deletion by `destroy`): point it at the new one.
        if error_code(exc) != "AlreadyExistsException":
            raise
        kms.update_alias(AliasName=r.name, TargetKeyId=key_id)


def apply(r: KmsKey, change: Change, ctx: Context) -> None:
    if change.action == "create":
        _create(r, ctx)
        return
    kms = ctx.client("kms")
    key_id = ctx.fact(r.logical, "KeyId")
    if "KeyPolicy" in change.diff:
        wait_for_propagation(
            lambda: kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=r.document)
        )
    if "KeyRotationEnabled" in change.diff:
        kms.enable_key_rotation(KeyId=key_id)
    if "Enabled" in change.diff:
        kms.enable_key(KeyId=key_id)


def delete(r: KmsKey, ctx: Context) -> None:
    kms = ctx.client("kms")
    key_id = ctx.fact(r.logical, "KeyId")
    ignore_missing(lambda: kms.delete_alias(AliasName=r.name), *GONE, "NotFoundException")
    if key_id:
        ignore_missing(
            lambda: kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=KEY_DELETION_WINDOW_DAYS),
            *GONE,
            "NotFoundException",
            "KMSInvalidStateException",  # already pending deletion
        )


def render(r: KmsKey, model: StackModel) -> dict[str, Any]:
    return {"Description": r.description, "EnableKeyRotation": True, "KeyPolicy": json.loads(r.document)}


def companions(r: KmsKey, model: StackModel) -> dict[str, dict[str, Any]]:
    """The alias the key is found by (`name`)."""
    return {
        f"{r.logical}Alias": {
            "Type": "AWS::KMS::Alias",
            "Properties": {"AliasName": r.name, "TargetKeyId": {"Ref": r.logical}},
        }
    }
