"""What every handler reads from its Lambda context."""

from __future__ import annotations

from typing import Any


def account_from_context(context: Any) -> str | None:
    """The account id in the invoked function's ARN (`arn:aws:lambda:region:ACCOUNT:function:name`), or None.

    Saves an STS GetCallerIdentity on every cold start (which stalls in a VPC without an STS endpoint).
    """
    parts = str(getattr(context, "invoked_function_arn", "") or "").split(":")
    return parts[4] if len(parts) >= 5 and parts[4].isdigit() else None
