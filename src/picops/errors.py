"""The picops error tree.

Every error carries the exit code the CLI maps it to (each command's page under docs/ lists them). Core
code raises these; only the CLI turns them into process exits, so Lambdas see ordinary exceptions.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# A field of a use case's input, as core names it in a message: `input_field("rate")`. The CLI shows its flag
# (`--rate`), any other caller the field's own name: core never knows how a value was given. The markers are
# private-use characters, so no value quoted in a message (a JMESPath expression, a key) can look like one.
_OPEN, _CLOSE = "\ue000", "\ue001"
_FIELD = re.compile(f"{_OPEN}([a-z_][a-z0-9_]*){_CLOSE}")


def input_field(name: str) -> str:
    """The placeholder for input field `name` inside an error's message or hint."""
    return f"{_OPEN}{name}{_CLOSE}"


def _named(text: str, name_of: Callable[[str], str]) -> str:
    return _FIELD.sub(lambda m: name_of(m.group(1)), text)


class PicopsError(Exception):
    """Base of every error picops raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.template, self.hint_template = message, hint
        self.message = _named(message, str)
        self.hint = None if hint is None else _named(hint, str)

    @property
    def fields(self) -> list[str]:
        """The input fields the message and hint name, in order."""
        return _FIELD.findall(self.template + (self.hint_template or ""))

    def worded(self, name_of: Callable[[str], str]) -> tuple[str, str | None]:
        """Message and hint with each field named by `name_of` (the CLI passes its flag for a field)."""
        hint = None if self.hint_template is None else _named(self.hint_template, name_of)
        return _named(self.template, name_of), hint

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
