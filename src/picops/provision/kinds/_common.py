"""What every resource kind shares: a missing resource reads as None, an already-gone one deletes as
success, and listings are read whole."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import botocore.exceptions

from picops.aws_errors import MISSING_RESOURCE_CODES, SERVICE_MISSING, http_status, is_missing

T = TypeVar("T")

# The export's account and region: CloudFormation pseudo parameters, resolved by Fn::Sub at deploy time.
CFN_ACCOUNT = "${AWS::AccountId}"
CFN_REGION = "${AWS::Region}"

# The codes any service answers for a resource that is not there.
GONE = tuple(MISSING_RESOURCE_CODES)


def describe_or_none(
    call: Callable[[], T], codes: Iterable[str] = SERVICE_MISSING, *, also: Iterable[str] = ()
) -> T | None:
    """`call()`'s answer, or None when AWS says the thing is not there (`codes`, plus call-specific `also`):
    a read that finds nothing plans a create instead of failing."""
    try:
        return call()
    except botocore.exceptions.ClientError as exc:
        if is_missing(exc, codes, also=also):
            return None
        raise


def ignore_missing(call: Callable[[], Any], *codes: str) -> None:
    """Run `call`; a missing-resource answer means it is already done (an interrupted destroy re-runs)."""
    try:
        call()
    except botocore.exceptions.ClientError as exc:
        # Any 404 is "already gone" here, whatever the service calls it.
        if not is_missing(exc, codes) and http_status(exc) != 404:
            raise


def paginated(client: Any, operation: str, key: str, **params: Any) -> list[Any]:
    """Every item of a listing whose pages botocore knows how to follow (NextToken), read whole: a large
    account has more APIs, stages, routes or rule targets than one page holds."""
    return [item for page in client.get_paginator(operation).paginate(**params) for item in page.get(key, [])]
