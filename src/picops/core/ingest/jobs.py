"""Job records in JobsTable: one item per object version, claimed with a lease, so work happens once.

Layout (docs/ingest.md, "Job items"):
- job item: `pk = OBJ#<bucket>/<key>`, `sk = V#<version id, or the ETag when unversioned>`, with `status`
  IN_PROGRESS (while claimed) | PROCESSED | FAILED, `kind`, `size`, `etag`, `version`, `outputs`, `reason`,
  `created_at`/`updated_at`/`finished_at`, `attempts`, the lease (`lease_until`, `claim`) and `notified`.
- failure index item, written when a job fails: `pk = FAILED#<UTC day>`, `sk = <failed_at>#<job pk>#<job sk>`,
  so `picops ingest failures --since` queries one partition per day instead of scanning. An index item is a
  pointer; the job item is the truth (a later success leaves the pointer, and the reader drops it).

Exactly once in effect: a worker claims a version with a conditional write that succeeds only when nobody
holds it (no item, or an expired lease). A duplicate delivery of a finished version finds it PROCESSED or
FAILED and does nothing, except publishing the notification when `notified` is missing (a publish that failed
after the outcome was written). The pipeline publishes within the lease and then writes the outcome and
`notified` in one `finish`; `finished` builds the job that write will leave, for the notification.
A lease ends when the claiming invocation would have timed out, so a retry after a crash takes the version
over. Reprocess messages carry a token: without force they may take over a FAILED version, with force a
finished one too, each token at most once (a redelivered reprocess message is a duplicate like any other).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import botocore.exceptions
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from picops.aws_errors import is_conditional_failure
from picops.core.ingest.events import ObjectRef
from picops.core.ingest.limits import PARTITION_KEY_BYTES, SORT_KEY_BYTES, fitted

JOB_PREFIX = "OBJ#"
VERSION_PREFIX = "V#"
FAILURE_PREFIX = "FAILED#"
# Other wings' items share JobsTable under their own prefixes (the tag ledger uses LEDGER#).
RESERVED_PK_PREFIXES: tuple[str, ...] = (JOB_PREFIX, FAILURE_PREFIX, "LEDGER#")

IN_PROGRESS, PROCESSED, FAILED = "IN_PROGRESS", "PROCESSED", "FAILED"
# The original version was deleted and its derived outputs removed (docs/ingest.md, "Deletions").
DELETED = "DELETED"
FINISHED = frozenset({PROCESSED, FAILED})
_deserializer = TypeDeserializer()
_serializer = TypeSerializer()


def job_pk(bucket: str, key: str) -> str:
    """`OBJ#<bucket>/<key>`; a key too long for DynamoDB's partition key (only a forged notification can
    name one: S3 keys stop at 1,024 bytes) is hashed, the readable key kept in the `key` attribute."""
    return fitted(JOB_PREFIX, f"{bucket}/{key}", PARTITION_KEY_BYTES)


def job_sk(ref: ObjectRef) -> str:
    return fitted(VERSION_PREFIX, ref.version_label, SORT_KEY_BYTES)


def failure_sk(stamp: str, pk: str, sk: str) -> str:
    """The failure index's sort key, `<failed_at>#<job pk>#<job sk>`: for an object key over about 920
    bytes that passes DynamoDB's 1,024-byte sort key limit, so the job part is hashed (the index item's
    `job_pk` and `job_sk` attributes keep it readable, and the reader uses only those)."""
    return fitted(f"{stamp}#", f"{pk}#{sk}", SORT_KEY_BYTES)


def now_iso(now: dt.datetime | None = None) -> str:
    moment = now or dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _attribute(value: Any) -> dict[str, Any]:
    """A job attribute: numbers and text as before; lists and maps (the renditions) as DynamoDB L and M."""
    if isinstance(value, list | dict):
        return dict(_serializer.serialize(value))
    return {"N": str(value)} if isinstance(value, int) else {"S": str(value)}


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB-typed item as Python values (Decimal integers as int)."""
    out = {k: _deserializer.deserialize(v) for k, v in item.items()}
    return {k: _py(v) for k, v in out.items()}


def _py(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_py(v) for v in value]
    if isinstance(value, dict):
        return {k: _py(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Job:
    """One job item, as the CLI and the notifier see it."""

    bucket: str
    key: str
    sk: str
    status: str
    kind: str | None
    version: str | None
    etag: str | None
    size: int | None
    outputs: Any
    reason: str | None
    attempts: int
    created_at: str | None
    updated_at: str | None
    finished_at: str | None
    notified: str | None
    claim: str | None
    lease_until: int | None
    renditions: list[dict[str, Any]] | None = None  # images only: name, key, format, width, height, bytes
    records: list[list[Any]] | None = None  # JSON drops only: each stored record's [pk, sk]
    removed_sequencer: str | None = None  # DELETED only: the removal event's S3 sequencer

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Job:
        values = plain(item)
        pk = str(values["pk"])[len(JOB_PREFIX) :]
        bucket, _, key = pk.partition("/")
        return cls(
            bucket=str(values.get("bucket") or bucket),
            key=str(values.get("key") or key),
            sk=str(values["sk"]),
            status=str(values.get("status", "")),
            kind=values.get("kind"),
            version=values.get("version"),
            etag=values.get("etag"),
            size=values.get("size"),
            outputs=values.get("outputs"),
            reason=values.get("reason"),
            attempts=int(values.get("attempts") or 0),
            created_at=values.get("created_at"),
            updated_at=values.get("updated_at"),
            finished_at=values.get("finished_at"),
            notified=values.get("notified"),
            claim=values.get("claim"),
            lease_until=values.get("lease_until"),
            renditions=values.get("renditions"),
            records=values.get("records"),
            removed_sequencer=values.get("removed_sequencer"),
        )

    def as_dict(self) -> dict[str, Any]:
        listed = {} if self.renditions is None else {"renditions": self.renditions}
        return {
            "bucket": self.bucket,
            "key": self.key,
            "version": self.version,
            "etag": self.etag,
            "status": self.status,
            "kind": self.kind,
            "size": self.size,
            "outputs": self.outputs,
            "reason": self.reason,
            "attempts": self.attempts,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "finished_at": self.finished_at,
            "notified": self.notified is not None,
            **listed,
        }


@dataclass(frozen=True)
class Claim:
    """What a claim attempt found: `acquired` (do the work), or the existing job (`job`) to act upon."""

    acquired: bool
    claim: str | None = None
    job: Job | None = None
    # Acquired: the job item as the claim wrote it (DynamoDB-typed), so the outcome and its notification can
    # be built without reading it back.
    item: dict[str, Any] | None = None


class JobStore:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    # -- claims --------------------------------------------------------------------------------------

    def claim(
        self,
        ref: ObjectRef,
        kind: str,
        *,
        lease_s: float,
        token: str | None = None,
        force: bool = False,
        deleted_seen: str | None = None,
        now: dt.datetime | None = None,
    ) -> Claim:
        """Take the version's lease, or say who holds it: one conditional UpdateItem, the existing item
        returned by the same request when the condition fails (no second read)."""
        moment = now or dt.datetime.now(dt.UTC)
        claim = uuid.uuid4().hex
        values = _claim_values(ref, kind, claim, moment, lease_s)
        if token:
            values[":token"] = {"S": token}
            if not force:
                values[":failed"] = {"S": FAILED}
        assign = _claim_assignments(ref, values, token)
        removed = ("notified", "reason", "outputs", "finished_at", "deleted_at")
        update = (
            "SET "
            + ", ".join(f"#{name} = {expr}" for name, expr in assign.items())
            + " REMOVE "
            + ", ".join(f"#{name}" for name in removed)
        )
        condition = claim_condition(token=bool(token), force=force)
        extra_names: list[str] = []
        if deleted_seen is not None:
            # Compare-and-swap on the removal this attempt saw: S3 sequencers order only after padding,
            # which a condition expression cannot do, so the caller compared them.
            values[":deleted"] = {"S": DELETED}
            values[":seen"] = {"S": deleted_seen}
            condition = f"{condition} OR {REMOVAL_SEEN}"
            extra_names.append("removed_sequencer")
        # Exactly the names and values the expressions use: DynamoDB refuses an unused one.
        names = _names([*assign, *removed, "pk", *extra_names])
        try:
            response = self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(ref),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except botocore.exceptions.ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            held = exc.response.get("Item")
            # An endpoint that ignores ReturnValuesOnConditionCheckFailure costs one consistent read.
            return Claim(acquired=False, job=Job.from_item(held) if isinstance(held, dict) else self.get(ref))
        return Claim(acquired=True, claim=claim, item=response.get("Attributes"))

    def finish(
        self,
        ref: ObjectRef,
        claim: str,
        *,
        status: str,
        outputs: Any = None,
        reason: str | None = None,
        extra: dict[str, Any] | None = None,
        notified: bool = False,
        now: dt.datetime | None = None,
    ) -> Job | None:
        """Record the outcome if this claim still holds the version; None when another attempt took over.
        `notified`: the notification is already published, so the same write marks it (one request)."""
        moment = now or dt.datetime.now(dt.UTC)
        assign, values = _outcome(status, outputs, reason, extra, now_iso(moment), notified=notified)
        values[":claim"] = {"S": claim}
        if status == FAILED:
            self._index_failure(ref, now_iso(moment), moment)
        try:
            response = self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(ref),
                UpdateExpression="SET "
                + ", ".join(f"#{name} = {expr}" for name, expr in assign.items())
                + " REMOVE #lease_until",
                ConditionExpression="#claim = :claim",
                ExpressionAttributeNames=_names([*assign, "lease_until", "claim"]),
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except botocore.exceptions.ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            return None
        return Job.from_item(response["Attributes"])

    @staticmethod
    def finished(
        claimed: dict[str, Any],
        *,
        status: str,
        outputs: Any = None,
        reason: str | None = None,
        extra: dict[str, Any] | None = None,
        now: dt.datetime,
    ) -> Job:
        """The job exactly as `finish(..., now=now)` will write it over the claimed item `claimed`: what
        the notification says when it is published before that write."""
        assign, values = _outcome(status, outputs, reason, extra, now_iso(now), notified=False)
        item = {name: value for name, value in claimed.items() if name != "lease_until"}
        item |= {name: values[expr] for name, expr in assign.items()}
        return Job.from_item(item)

    def release(self, ref: ObjectRef, claim: str) -> None:
        """End this claim's lease now (after a transient error) so a retry can take the version at once."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(ref),
                UpdateExpression="SET #lease_until = :zero",
                ConditionExpression="#claim = :claim AND #status = :in_progress",
                ExpressionAttributeNames=_names(["lease_until", "claim", "status"]),
                ExpressionAttributeValues={
                    ":zero": {"N": "0"},
                    ":claim": {"S": claim},
                    ":in_progress": {"S": IN_PROGRESS},
                },
            )
        except botocore.exceptions.ClientError as exc:
            if not is_conditional_failure(exc):
                raise

    def mark_deleted(
        self, ref: ObjectRef, *, sequencer: str | None, now: dt.datetime | None = None
    ) -> tuple[bool, Job | None]:
        """Mark the version DELETED (creating a tombstone when no job exists yet, so a late ObjectCreated for
        it is recognised). Returns (False, None) while another attempt holds a live claim (its outputs are
        not written yet: retry later), else (True, the job as it was before, or None)."""
        moment = now or dt.datetime.now(dt.UTC)
        stamp = now_iso(moment)
        values: dict[str, Any] = {
            ":deleted": {"S": DELETED},
            ":stamp": {"S": stamp},
            ":bucket": {"S": ref.bucket},
            ":key": {"S": ref.key},
            ":in_progress": {"S": IN_PROGRESS},
            ":now": {"N": str(int(moment.timestamp()))},
        }
        assign = {"status": ":deleted", "updated_at": ":stamp", "deleted_at": ":stamp"}
        assign |= {"bucket": ":bucket", "key": ":key", "created_at": "if_not_exists(#created_at, :stamp)"}
        if ref.version_id:
            values[":version"] = {"S": ref.version_id}
            assign["version"] = ":version"
        if sequencer:
            values[":sequencer"] = {"S": sequencer}
            assign["removed_sequencer"] = ":sequencer"
        try:
            response = self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(ref),
                UpdateExpression="SET "
                + ", ".join(f"#{name} = {expr}" for name, expr in assign.items())
                + " REMOVE #lease_until, #claim",
                ConditionExpression=(
                    "attribute_not_exists(pk) OR #status <> :in_progress OR #lease_until < :now"
                ),
                ExpressionAttributeNames=_names([*assign, "lease_until", "claim"]),
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
            )
        except botocore.exceptions.ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            return False, None
        old = response.get("Attributes")
        return True, (Job.from_item(old) if old else None)

    def add_renditions(self, job: Job, made: list[dict[str, Any]], *, now: dt.datetime | None = None) -> bool:
        """Merge renditions made later (backfill) into a PROCESSED job's list, by name; False when the job
        is no longer PROCESSED (reprocessed or deleted meanwhile: its own outcome stands)."""
        merged = {str(r.get("name")): r for r in job.renditions or ()} | {str(r["name"]): r for r in made}
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": job_pk(job.bucket, job.key)}, "sk": {"S": job.sk}},
                UpdateExpression="SET #renditions = :renditions, #updated_at = :stamp",
                ConditionExpression="#status = :processed",
                ExpressionAttributeNames=_names(["renditions", "updated_at", "status"]),
                ExpressionAttributeValues={
                    ":renditions": _attribute(list(merged.values())),
                    ":stamp": {"S": now_iso(now)},
                    ":processed": {"S": PROCESSED},
                },
            )
        except botocore.exceptions.ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            return False
        return True

    def mark_notified(self, job: Job, *, now: dt.datetime | None = None) -> None:
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"pk": {"S": job_pk(job.bucket, job.key)}, "sk": {"S": job.sk}},
            UpdateExpression="SET #notified = :stamp",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#notified": "notified"},
            ExpressionAttributeValues={":stamp": {"S": now_iso(now)}},
        )

    def _index_failure(self, ref: ObjectRef, stamp: str, moment: dt.datetime) -> None:
        # Written before the job turns FAILED: a crash in between leaves a pointer the reader checks.
        self.dynamodb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": f"{FAILURE_PREFIX}{moment.astimezone(dt.UTC):%Y-%m-%d}"},
                "sk": {"S": failure_sk(stamp, job_pk(ref.bucket, ref.key), job_sk(ref))},
                "job_pk": {"S": job_pk(ref.bucket, ref.key)},
                "job_sk": {"S": job_sk(ref)},
                "failed_at": {"S": stamp},
            },
        )

    # -- reads ---------------------------------------------------------------------------------------

    def _key(self, ref: ObjectRef) -> dict[str, Any]:
        return {"pk": {"S": job_pk(ref.bucket, ref.key)}, "sk": {"S": job_sk(ref)}}

    def get(self, ref: ObjectRef) -> Job | None:
        item = self.dynamodb.get_item(TableName=self.table, Key=self._key(ref), ConsistentRead=True).get(
            "Item"
        )
        return Job.from_item(item) if item else None

    def jobs_for(self, bucket: str, key: str) -> list[Job]:
        """Every version's job item for one object, newest first."""
        paginator = self.dynamodb.get_paginator("query")
        jobs: list[Job] = []
        for page in paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
            ExpressionAttributeValues={":pk": {"S": job_pk(bucket, key)}, ":v": {"S": VERSION_PREFIX}},
            ConsistentRead=True,
        ):
            jobs += [Job.from_item(i) for i in page.get("Items", [])]
        return sorted(jobs, key=lambda j: j.created_at or "", reverse=True)

    def failures(self, since: dt.datetime, *, now: dt.datetime | None = None) -> list[Job]:
        """FAILED jobs whose failure is at or after `since`, newest first (one Query per UTC day)."""
        end = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        start = since.astimezone(dt.UTC)
        pointers: list[tuple[str, str, str]] = []
        for day in _days(start.date(), end.date()):
            paginator = self.dynamodb.get_paginator("query")
            for page in paginator.paginate(
                TableName=self.table,
                KeyConditionExpression="pk = :pk AND sk >= :since",
                ExpressionAttributeValues={
                    ":pk": {"S": f"{FAILURE_PREFIX}{day:%Y-%m-%d}"},
                    ":since": {"S": now_iso(start)},
                },
                ScanIndexForward=False,
            ):
                for item in page.get("Items", []):
                    pointers.append((item["failed_at"]["S"], item["job_pk"]["S"], item["job_sk"]["S"]))
        pointers.sort(reverse=True)
        wanted: dict[tuple[str, str], str] = {}
        for failed_at, pk, sk in pointers:
            wanted.setdefault((pk, sk), failed_at)
        jobs = [j for j in self._batch_get(list(wanted)) if j.status == FAILED]
        return sorted(jobs, key=lambda j: j.finished_at or j.updated_at or "", reverse=True)

    def _batch_get(self, keys: list[tuple[str, str]]) -> Iterator[Job]:
        for start in range(0, len(keys), 100):
            pending: list[dict[str, Any]] = [
                {"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys[start : start + 100]
            ]
            while pending:
                response = self.dynamodb.batch_get_item(
                    RequestItems={self.table: {"Keys": pending, "ConsistentRead": True}}
                )
                for item in response.get("Responses", {}).get(self.table, []):
                    yield Job.from_item(item)
                pending = list(
                    ((response.get("UnprocessedKeys") or {}).get(self.table) or {}).get("Keys") or []
                )


def _outcome(
    status: str,
    outputs: Any,
    reason: str | None,
    extra: dict[str, Any] | None,
    stamp: str,
    *,
    notified: bool,
) -> tuple[dict[str, str], dict[str, Any]]:
    """A finish's assignments (attribute name to value placeholder) and the placeholders' values."""
    values: dict[str, Any] = {":status": {"S": status}, ":stamp": {"S": stamp}}
    assign = {"status": ":status", "updated_at": ":stamp", "finished_at": ":stamp"}
    if outputs is not None:
        values[":outputs"] = {"N": str(outputs)} if isinstance(outputs, int) else {"S": str(outputs)}
        assign["outputs"] = ":outputs"
    if reason is not None:
        values[":reason"] = {"S": reason[:2000]}
        assign["reason"] = ":reason"
    for name, value in (extra or {}).items():
        values[f":x_{name}"] = _attribute(value)
        assign[name] = f":x_{name}"
    if notified:
        assign["notified"] = ":stamp"
    return assign, values


def _names(attributes: Iterable[str]) -> dict[str, str]:
    """Expression names for every attribute (several, like `size`, `key` and `status`, are reserved words)."""
    return {f"#{name}": name for name in attributes}


def _days(first: dt.date, last: dt.date) -> Iterable[dt.date]:
    day = last
    while day >= first:
        yield day
        day -= dt.timedelta(days=1)


# The claim's condition, one named part at a time (docs/ingest.md, "Job items"). Every attribute goes
# through an expression name: `status` and `key` are DynamoDB reserved words.
UNCLAIMED = "attribute_not_exists(#pk)"
LEASE_EXPIRED = "(#status = :in_progress AND #lease_until < :now)"
NOT_IN_PROGRESS_OR_EXPIRED = "(#status <> :in_progress OR #lease_until < :now)"
FRESH_TOKEN = "(attribute_not_exists(#reprocess_token) OR #reprocess_token <> :token)"
FAILED_BEFORE = "#status = :failed"
# A DELETED job whose removal is the one this (later) creation was compared against.
REMOVAL_SEEN = "(#status = :deleted AND #removed_sequencer = :seen)"


def claim_condition(*, token: bool, force: bool) -> str:
    """Free (no item, or an expired lease); with a reprocess token also a FAILED job this token has not
    retried yet, or with `force` any job not being worked on right now that this token has not touched."""
    if not token:
        return f"{UNCLAIMED} OR {LEASE_EXPIRED}"
    if force:
        return f"{UNCLAIMED} OR ({FRESH_TOKEN} AND {NOT_IN_PROGRESS_OR_EXPIRED})"
    return f"{UNCLAIMED} OR {LEASE_EXPIRED} OR ({FRESH_TOKEN} AND {FAILED_BEFORE})"


def _claim_values(
    ref: ObjectRef, kind: str, claim: str, moment: dt.datetime, lease_s: float
) -> dict[str, Any]:
    epoch = int(moment.timestamp())
    values: dict[str, Any] = {
        ":in_progress": {"S": IN_PROGRESS},
        ":now": {"N": str(epoch)},
        ":lease": {"N": str(epoch + max(1, int(lease_s + 0.999)))},
        ":claim": {"S": claim},
        ":stamp": {"S": now_iso(moment)},
        ":one": {"N": "1"},
        ":zero": {"N": "0"},
        ":kind": {"S": kind},
        ":bucket": {"S": ref.bucket},
        ":key": {"S": ref.key},
    }
    return values


def _claim_assignments(ref: ObjectRef, values: dict[str, Any], token: str | None) -> dict[str, str]:
    """The attributes a claim sets (adding the optional ones' values to `values`)."""
    assign: dict[str, str] = {
        "status": ":in_progress",
        "lease_until": ":lease",
        "claim": ":claim",
        "updated_at": ":stamp",
        "created_at": "if_not_exists(#created_at, :stamp)",
        "attempts": "if_not_exists(#attempts, :zero) + :one",
        "kind": ":kind",
        "bucket": ":bucket",
        "key": ":key",
    }
    optional = {"version": ref.version_id, "etag": ref.etag.strip('"') if ref.etag else None}
    for name, value in optional.items():
        if value:
            values[f":{name}"] = {"S": value}
            assign[name] = f":{name}"
    if ref.size is not None:
        values[":size"] = {"N": str(ref.size)}
        assign["size"] = ":size"
    if token:
        assign["reprocess_token"] = ":token"
    return assign
