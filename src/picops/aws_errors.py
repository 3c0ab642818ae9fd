"""What an AWS error means to picops, in one place.

Every caller that asks "is this ClientError a missing resource / a throttle / a lost condition / a denial /
the user's own input?" (the CLI's error translation, queue resolution, the ingest pipeline, the tagging
engine and sweep, the bookings store, the provision planner and destroy) asks here, so a code AWS (or the
local endpoint) adds is taught to picops once. No other module reads a response's "Error" member
(tests/unit/test_source_rules.py enforces it). Imports nothing of picops: it sits beside `errors` and `aws`,
below everything else, and ships inside the Lambda bundle.
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


def _error(exc: Any) -> dict[str, Any]:
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}) or {}


def code_of(exc: Any) -> str:
    """The error code of a botocore ClientError ("" when there is none)."""
    return str(_error(exc).get("Code", "") or "")


# The older name, kept for the callers that still use it.
error_code = code_of


def message_of(exc: Any) -> str:
    """The error message of a botocore ClientError ("" when there is none)."""
    return str(_error(exc).get("Message", "") or "").strip()


def http_status(exc: Any) -> int:
    """The HTTP status of a botocore ClientError (0 when unknown)."""
    response = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def is_missing(exc: Any, codes: Iterable[str] = MISSING_RESOURCE_CODES, *, also: Iterable[str] = ()) -> bool:
    """Whether `exc` says the thing does not exist: its code is in `codes` (or `also`, for call-specific
    codes such as NoSuchBucketPolicy), or the set covers bare 404s ("404") and the status is 404."""
    accepted = frozenset(codes) | frozenset(also)
    return error_code(exc) in accepted or ("404" in accepted and http_status(exc) == 404)


# Codes AWS answers when the caller's policy does not allow the request (SNS says AuthorizationError; a bare
# 403 is HeadBucket/HeadObject without s3:ListBucket or on another account's bucket; SQS's query protocol says
# UnsupportedOperation for a denied cross-account action).
ACCESS_DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "Forbidden",
        "403",
        "AWS.SimpleQueueService.UnsupportedOperation",
    }
)
# The credentials themselves were refused (expired, unknown, clock skew): no grant fixes these.
CREDENTIALS_REJECTED = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
    }
)
# The service shed load: the same request later succeeds.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "SlowDown",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "KMSThrottlingException",
    }
)
# Throttles plus the server-side failures and timeouts worth one more try (a 5xx status counts too, whatever
# its code); TransactionConflict is DynamoDB's "another transaction holds this item right now".
TRANSIENT_CODES = THROTTLING_CODES | frozenset(
    {
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "TransactionConflictException",
    }
)
# Failures below the HTTP response (no response, a cut-off body, a timeout): transient by nature.
TRANSIENT_EXCEPTIONS: tuple[type[BaseException], ...] = (
    # EndpointConnectionError, ConnectTimeoutError and ConnectionClosedError are ConnectionErrors.
    botocore.exceptions.ConnectionError,
    botocore.exceptions.HTTPClientError,  # ReadTimeoutError
    botocore.exceptions.IncompleteReadError,
    botocore.exceptions.ResponseStreamingError,
    TimeoutError,
    ConnectionError,
)
# DynamoDB's condition did not hold (someone else wrote first).
CONDITIONAL_FAILED = frozenset({"ConditionalCheckFailedException"})
# The request was refused because of what the user asked for (a name, a value, a combination): exit 2.
USER_INPUT_CODES = frozenset(
    {
        "ValidationError",
        "ValidationException",
        "InvalidParameterValue",
        "InvalidParameterValueException",
        "InvalidParameterCombination",
        "InvalidParameterException",
        "InvalidRequestContentException",
        "InvalidArgument",
        "InvalidBucketName",
        "InvalidAttributeValue",
        "InvalidAttributeName",
        "MalformedPolicyDocument",
        "MalformedPolicyDocumentException",
        "InvalidInput",
        "BadRequestException",
        "AWS.SimpleQueueService.UnsupportedOperation",
    }
)


def is_access_denied(exc: Any) -> bool:
    """The caller may not do this: a grant is missing, which retrying or ignoring never fixes."""
    return code_of(exc) in ACCESS_DENIED


def is_credentials_rejected(exc: Any) -> bool:
    """AWS refused the credentials themselves (expired, unknown, signed with a skewed clock)."""
    return code_of(exc) in CREDENTIALS_REJECTED


def is_throttled(exc: Any) -> bool:
    """The service shed load (still, after botocore's own retries when the caller asks after them)."""
    return code_of(exc) in THROTTLING_CODES


def is_transient(exc: BaseException) -> bool:
    """Worth another try later: a throttle (a 429 whatever its code), a 5xx, a timeout, or a connection that
    failed or broke off."""
    if isinstance(exc, botocore.exceptions.ClientError):
        status = http_status(exc)
        return code_of(exc) in TRANSIENT_CODES or status >= 500 or status == 429
    return isinstance(exc, TRANSIENT_EXCEPTIONS)


def is_conditional_failure(exc: Any, *, transaction: bool = False) -> bool:
    """A DynamoDB condition did not hold. With `transaction`, a cancelled TransactWriteItems counts too:
    callers whose transactions can only be cancelled by their own conditions pass it."""
    code = code_of(exc)
    return code in CONDITIONAL_FAILED or (transaction and code == "TransactionCanceledException")


def is_user_input(exc: Any) -> bool:
    """AWS refused the request because of what was asked for (a name, a value, a combination)."""
    return code_of(exc) in USER_INPUT_CODES


__all__ = [
    "ACCESS_DENIED",
    "BUCKET_MISSING",
    "CONDITIONAL_FAILED",
    "CREDENTIALS_REJECTED",
    "MISSING_RESOURCE_CODES",
    "OBJECT_MISSING",
    "QUEUE_MISSING",
    "SERVICE_MISSING",
    "THROTTLING_CODES",
    "TRANSIENT_CODES",
    "TRANSIENT_EXCEPTIONS",
    "USER_INPUT_CODES",
    "code_of",
    "error_code",
    "http_status",
    "is_access_denied",
    "is_conditional_failure",
    "is_credentials_rejected",
    "is_missing",
    "is_throttled",
    "is_transient",
    "is_user_input",
    "message_of",
]
