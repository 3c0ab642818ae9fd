"""The one bounded wait for AWS eventual consistency (IAM roles and policies, resource policies, a new table).

IAM roles, their policies and resource policies become effective some seconds after the call that made them
returns; AWS then answers with a 400 meaning "not yet", which botocore's retry modes rightly do not retry (not
a transport or throttling failure). Chalice and SAM wait these out the same way. `wait_for_propagation`
retries only the known "not yet" answers, with a growing pause (1 s, 2 s, 4 s, then 5 s), and gives up
with the last error once the budget is spent: anything else is raised at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import botocore.exceptions

from picops.aws_errors import error_code, message_of

T = TypeVar("T")

# One budget for every caller (provision's executor and deploy's CreateFunction). Read at call time, so a test
# can shrink them with monkeypatch.
BUDGET_S = 90.0
FIRST_STEP_S = 1.0
MAX_STEP_S = 5.0

# (error code, text in its message) of the answers that mean "not effective yet".
NOT_YET: tuple[tuple[str, str], ...] = (
    ("InvalidParameterValueException", "execution role"),  # ESM right after its role's policy
    ("InvalidParameterValueException", "Cannot access stream"),  # stream ESM before its role's stream grants
    ("InvalidParameterValueException", "cannot be assumed"),  # CreateFunction right after CreateRole
    ("InvalidArgument", "Unable to validate the following destination"),  # S3 -> SQS before the queue policy
    ("ContinuousBackupsUnavailableException", ""),  # PITR right after CreateTable
    ("MalformedPolicyDocumentException", "invalid principals"),  # key policy naming a new role
    ("InvalidTargetBucketForLogging", "permissions"),  # access logging right after its bucket policy
)


def is_not_yet(exc: botocore.exceptions.ClientError) -> bool:
    code = error_code(exc)
    message = message_of(exc)
    return any(code == c and text in message for c, text in NOT_YET)


def wait_for_propagation(
    call: Callable[[], T],
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """`call()`, retried while AWS answers "not yet", for at most BUDGET_S seconds in all."""
    deadline = clock() + BUDGET_S
    step = FIRST_STEP_S
    while True:
        try:
            return call()
        except botocore.exceptions.ClientError as exc:
            remaining = deadline - clock()
            if not is_not_yet(exc) or remaining <= 0:
                raise
            sleep(max(0.0, min(step, remaining)))
            step = min(step * 2, MAX_STEP_S)
