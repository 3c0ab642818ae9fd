"""The picops error tree.

Every error carries the exit code the CLI maps it to (each command's page under docs/ lists them). Core
code raises these; only the CLI turns them into process exits, so Lambdas see ordinary exceptions.
"""

from __future__ import annotations


class PicopsError(Exception):
    """Base of every error picops raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\nHint: {self.hint}"


class OperationFailed(PicopsError):
    """The work finished but some of it failed, or a check found violations (exit 1)."""

    exit_code = 1


class UsageError(PicopsError):
    """Bad flags or arguments, or inputs that contradict each other (exit 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration file, environment variable or flag holds a bad value (exit 2)."""


class ValidationFailed(UsageError):
    """An input from outside (event, manifest, message, file) is malformed (exit 2)."""


class AwsError(PicopsError):
    """AWS could not be used: unreachable, no credentials, access denied, missing resource (exit 3)."""

    exit_code = 3


class EndpointUnreachable(AwsError):
    pass


class CredentialsMissing(AwsError):
    pass


class AccessDenied(AwsError):
    pass


class ResourceMissing(AwsError):
    pass


class Interrupted(PicopsError):
    """The user interrupted the work; state was left resumable (exit 130)."""

    exit_code = 130
