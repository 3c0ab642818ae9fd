"""What AWS error codes mean to picops, in one place: the "it does not exist" codes.

Every caller that asks "is this ClientError a missing resource?" (the CLI's error translation, queue
resolution, the tagging engine and sweep, the provision planner and destroy) reads these sets, so a code AWS
(or the local endpoint) adds is taught to picops once. Imports nothing of picops: it sits beside `errors`
and `aws`, below everything else, and ships inside the Lambda bundle.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import botocore.exceptions

# SQS: the JSON protocol's code, and the query protocol's (older endpoints, moto).
QUEUE_MISSING = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
# S3 buckets: GetBucket* says NoSuchBucket; HeadBucket has no body, so its code is the status ("404",
# "NotFound").
BUCKET_MISSING = frozenset({"NoSuchBucket", "404", "NotFound"})
# S3 objects: no such key or version; HEAD's bare 404; MethodNotAllowed when the version is a delete marker.
OBJECT_MISSING = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound", "MethodNotAllowed"})
# Every other service's "not found": DynamoDB, Lambda, SNS, EventBridge, CloudWatch Logs (ResourceNotFound /
# NotFound), CloudWatch dashboards (ResourceNotFound), API Gateway (NotFoundException), IAM (NoSuchEntity),
# SSM (ParameterNotFound).
SERVICE_MISSING = frozenset(
    {
        "ResourceNotFoundException",
        "ResourceNotFound",
        "NotFound",
        "NotFoundException",
        "NoSuchEntity",
        "ParameterNotFound",
    }
)

# A stack resource (bucket, queue, table, topic, function, role, API, parameter, ...) that does not exist.
MISSING_RESOURCE_CODES = QUEUE_MISSING | BUCKET_MISSING | SERVICE_MISSING


def error_code(exc: Any) -> str:
    """The error code of a botocore ClientError ("" when there is none)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def http_status(exc: Any) -> int:
    """The HTTP status of a botocore ClientError (0 when unknown)."""
    response = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def is_missing(exc: Any, codes: Iterable[str] = MISSING_RESOURCE_CODES, *, also: Iterable[str] = ()) -> bool:
    """Whether `exc` says the thing does not exist: its code is in `codes` (or `also`, for call-specific
    codes such as NoSuchBucketPolicy), or the set covers bare 404s ("404") and the status is 404."""
    accepted = frozenset(codes) | frozenset(also)
    return error_code(exc) in accepted or ("404" in accepted and http_status(exc) == 404)


__all__ = [
    "BUCKET_MISSING",
    "MISSING_RESOURCE_CODES",
    "OBJECT_MISSING",
    "QUEUE_MISSING",
    "SERVICE_MISSING",
    "error_code",
    "http_status",
    "is_missing",
]


# Codes AWS answers when the caller's policy does not allow the request.
ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403"})


def is_access_denied(exc: Any) -> bool:
    """The caller may not do this: a grant is missing, which retrying or ignoring never fixes."""
    return error_code(exc) in ACCESS_DENIED


def code_of(exc: Any) -> str:
    """The error code of a botocore ClientError ("" when there is none)."""
    return error_code(exc)


# Codes that say "not now" rather than "never": throttling, the service's own failures and timeouts. A retry
# of the same request can succeed, so callers back off and try again instead of recording a failure.
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "TransactionConflictException",
        "KMSThrottlingException",
    }
)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: throttling, a 5xx (or 429), a timeout or a connection error. Every other AWS error
    (access denied, validation, a missing resource, a limit) answers the same way on every retry."""
    if isinstance(exc, botocore.exceptions.ClientError):
        status = http_status(exc)
        return code_of(exc) in TRANSIENT_CODES or status >= 500 or status == 429
    return isinstance(
        exc,
        botocore.exceptions.ConnectionError
        | botocore.exceptions.HTTPClientError
        | botocore.exceptions.IncompleteReadError
        | botocore.exceptions.ResponseStreamingError
        | TimeoutError
        | ConnectionError,
    )


def error_message(exc: Any) -> str:
    """The message of a botocore ClientError ("" when there is none)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Message", ""))
