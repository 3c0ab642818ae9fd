"""What every resource kind's delete shares: an already-gone resource is success."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import botocore.exceptions

from picops.aws_errors import MISSING_RESOURCE_CODES, http_status, is_missing

# The export's account and region: CloudFormation pseudo parameters, resolved by Fn::Sub at deploy time.
CFN_ACCOUNT = "${AWS::AccountId}"
CFN_REGION = "${AWS::Region}"

# The codes any service answers for a resource that is not there.
GONE = tuple(MISSING_RESOURCE_CODES)


def ignore_missing(call: Callable[[], Any], *codes: str) -> None:
    """Run `call`; a missing-resource answer means it is already done (an interrupted destroy re-runs)."""
    try:
        call()
    except botocore.exceptions.ClientError as exc:
        # Any 404 is "already gone" here, whatever the service calls it.
        if not is_missing(exc, codes) and http_status(exc) != 404:
            raise
