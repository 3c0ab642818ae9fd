"""AWS::S3::Bucket: public access blocked, default encryption, versioning, access logging into the stack's
log bucket and, where set, a lifecycle rule expiring everything after `expire_days`. Its S3 event
notifications are their own kind (bucket_notification) but fold into this resource in the export."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import botocore.exceptions

from picops.aws_errors import BUCKET_MISSING, error_code
from picops.errors import AwsError
from picops.provision.kinds._common import GONE, describe_or_none, ignore_missing
from picops.provision.kinds.bucket_notification import notification_configuration
from picops.provision.propagation import wait_for_propagation
from picops.stack.model import Bucket, BucketNotification, StackModel

if TYPE_CHECKING:
    from picops.provision.live import Context
    from picops.provision.plan import Change

MODEL = Bucket

# The id of the lifecycle rule picops owns on a bucket it expires (other rules are left alone).
EXPIRY_RULE_ID = "picops-expire"
PUBLIC_ACCESS_KEYS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
# ListObjectVersions and DeleteObjects both stop at 1,000 keys.
S3_BATCH = 1000


def read(r: Bucket, ctx: Context) -> dict[str, Any] | None:
    s3 = ctx.client("s3")
    if describe_or_none(lambda: s3.head_bucket(Bucket=r.name), BUCKET_MISSING) is None:
        return None
    pab = describe_or_none(
        lambda: s3.get_public_access_block(Bucket=r.name)["PublicAccessBlockConfiguration"],
        {"NoSuchPublicAccessBlockConfiguration"},
    )
    versioning = s3.get_bucket_versioning(Bucket=r.name).get("Status")
    if versioning == "Suspended" and not r.versioned:
        # Versioning can never be switched off again, only suspended: for an unversioned bucket, same thing.
        versioning = None
    logging = s3.get_bucket_logging(Bucket=r.name).get("LoggingEnabled")
    out: dict[str, Any] = {
        "PublicAccessBlock": {key: bool((pab or {}).get(key, False)) for key in PUBLIC_ACCESS_KEYS},
        "SSEAlgorithm": _encryption_algorithm(s3, r.name),
        "Versioning": versioning,
        "Logging": (
            {"TargetBucket": logging.get("TargetBucket"), "TargetPrefix": logging.get("TargetPrefix", "")}
            if logging
            else None
        ),
    }
    if r.expire_days is not None:
        out["ExpirationDays"] = _expiration_days(s3, r.name)
    return out


def _encryption_algorithm(s3: Any, bucket: str) -> str | None:
    rules = describe_or_none(
        lambda: s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"],
        {"ServerSideEncryptionConfigurationNotFoundError"},
    )
    return rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] if rules else None


def _lifecycle_rules(s3: Any, bucket: str) -> list[dict[str, Any]]:
    found = describe_or_none(
        lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", []),
        {"NoSuchLifecycleConfiguration"},
    )
    return list(found or [])


def _expiration_days(s3: Any, bucket: str) -> int | None:
    for rule in _lifecycle_rules(s3, bucket):
        if rule.get("ID") == EXPIRY_RULE_ID and rule.get("Status") == "Enabled":
            days = rule.get("Expiration", {}).get("Days")
            return int(days) if days is not None else None
    return None


def desired(r: Bucket, ctx: Context) -> dict[str, Any]:
    return r.desired()


def _expiry_terms(days: int) -> dict[str, Any]:
    """What the expiry rule does beyond expiring current objects; the API and the export name that part
    differently (Expiration.Days, ExpirationInDays)."""
    return {
        "NoncurrentVersionExpiration": {"NoncurrentDays": days},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    }


def apply(r: Bucket, change: Change, ctx: Context) -> None:
    s3 = ctx.client("s3")
    diff = set(change.diff)
    if change.action == "create":
        kwargs: dict[str, Any] = {"Bucket": r.name}
        if ctx.model.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": ctx.model.region}
        s3.create_bucket(**kwargs)
        s3.get_waiter("bucket_exists").wait(Bucket=r.name)
        diff = set(r.desired()) - ({"Versioning"} if not r.versioned else set())
    wanted = r.desired()
    if "PublicAccessBlock" in diff:
        s3.put_public_access_block(Bucket=r.name, PublicAccessBlockConfiguration=wanted["PublicAccessBlock"])
    if "SSEAlgorithm" in diff:
        rule = {
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": wanted["SSEAlgorithm"]},
            "BucketKeyEnabled": True,
        }
        s3.put_bucket_encryption(Bucket=r.name, ServerSideEncryptionConfiguration={"Rules": [rule]})
    if "Versioning" in diff:
        status = "Enabled" if r.versioned else "Suspended"
        s3.put_bucket_versioning(Bucket=r.name, VersioningConfiguration={"Status": status})
    if "Logging" in diff and (change.action == "update" or wanted["Logging"] is not None):
        logging = {"LoggingEnabled": wanted["Logging"]} if wanted["Logging"] is not None else {}
        wait_for_propagation(lambda: s3.put_bucket_logging(Bucket=r.name, BucketLoggingStatus=logging))
    if "ExpirationDays" in diff and r.expire_days is not None:
        _put_expiry(s3, r.name, r.expire_days)


def _put_expiry(s3: Any, bucket: str, days: int) -> None:
    # PutBucketLifecycleConfiguration replaces every rule: keep other tools' rules.
    kept = [rule for rule in _lifecycle_rules(s3, bucket) if rule.get("ID") != EXPIRY_RULE_ID]
    ours = {
        "ID": EXPIRY_RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "Expiration": {"Days": days},
        **_expiry_terms(days),
    }
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [*kept, ours]})


def own_logs(r: Any, model: StackModel) -> bool:
    """The stack's access-log bucket: what it holds is the stack's record of its own requests, not data a
    user put there, so it is deleted with the stack without --delete-data (a fresh, unused stack already
    holds access logs)."""
    return isinstance(r, Bucket) and any(b.log_bucket == r.logical for b in model.of_type(Bucket))


def contents(r: Bucket, ctx: Context) -> str:
    """What destroy would lose: "" for an empty bucket (no object versions or delete markers)."""
    listed = ctx.client("s3").list_object_versions(Bucket=r.name, MaxKeys=1)
    return "holds objects" if listed.get("Versions") or listed.get("DeleteMarkers") else ""


def delete(r: Bucket, ctx: Context) -> None:
    s3 = ctx.client("s3")
    empty_first = ctx.delete_data or own_logs(r, ctx.model)
    if empty_first and r.log_bucket:
        # Emptying a logged bucket writes an access-log object per request into the log bucket, which is
        # deleted next: stop the logging first so the log bucket can stay empty.
        ignore_missing(lambda: s3.put_bucket_logging(Bucket=r.name, BucketLoggingStatus={}), *GONE)
    for attempt in range(2):
        if empty_first:
            empty_bucket(r.name, ctx)
        try:
            ignore_missing(lambda: s3.delete_bucket(Bucket=r.name), *GONE)
            return
        except botocore.exceptions.ClientError as exc:
            # Log objects delivered while it was being emptied (S3 delivers access logs late): empty it again.
            if not empty_first or attempt or error_code(exc) != "BucketNotEmpty":
                raise


def empty_bucket(bucket: str, ctx: Context) -> int:
    """Delete every object version and delete marker; returns how many were deleted.

    Each pass lists from the start instead of following the listing's markers: a marker names a key this
    loop has just deleted, and continuing from it skips what follows on some S3 implementations (the embedded
    endpoint answers an empty page), which left thousands of versions behind, one destroy run per page.
    Listing what is left is right everywhere and costs the same number of requests."""
    s3 = ctx.client("s3")
    deleted = 0
    while True:
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=S3_BATCH)
        doomed = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if not doomed:
            return deleted
        result = s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
        errors = result.get("Errors") or []
        deleted += len(doomed) - len(errors)
        if ctx.on_empty is not None:
            ctx.on_empty(bucket, deleted)
        if errors:
            _raise_refused(bucket, errors)


def _raise_refused(bucket: str, errors: list[dict[str, Any]]) -> None:
    first = errors[0]
    # A per-object failure is AWS refusing (AccessDenied, an object lock...): exit 3, not 2.
    raise AwsError(
        f"DeleteObjects on {bucket}: {len(errors)} object version(s) not deleted; first "
        f"{first.get('Key')}: {first.get('Code', 'error')}: {first.get('Message', '')}",
        hint="check the bucket's object lock and your s3:DeleteObjectVersion permission, then "
        "run the same destroy again (it continues where it stopped)",
    )


def render(r: Bucket, model: StackModel) -> dict[str, Any]:
    d = r.desired()
    encryption = {
        "ServerSideEncryptionByDefault": {"SSEAlgorithm": d["SSEAlgorithm"]},
        "BucketKeyEnabled": True,
    }
    props: dict[str, Any] = {
        "BucketName": r.name,
        "PublicAccessBlockConfiguration": d["PublicAccessBlock"],
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [encryption]},
    }
    if r.versioned:
        props["VersioningConfiguration"] = {"Status": "Enabled"}
    if r.log_bucket:
        props["LoggingConfiguration"] = {
            "DestinationBucketName": {"Ref": r.log_bucket},
            "LogFilePrefix": r.log_prefix,
        }
    if r.expire_days is not None:
        rule = {"Id": EXPIRY_RULE_ID, "Status": "Enabled", "ExpirationInDays": r.expire_days}
        props["LifecycleConfiguration"] = {"Rules": [{**rule, **_expiry_terms(r.expire_days)}]}
    # Notifications are a property of the bucket in CloudFormation.
    for n in model.of_type(BucketNotification):
        if n.bucket == r.logical:
            props["NotificationConfiguration"] = notification_configuration(n)
    return props
