"""Input fields, as core's errors name them, to the flags a user types: the CLI owns flag names.

A field named after its Typer parameter is that parameter's flag (`role_arn` -> `--role-arn`); `FLAGS` lists
the fields whose flag reads otherwise.
"""

from __future__ import annotations

FLAGS: dict[str, str] = {
    "filter_expression": "--filter",
    "max_messages": "--max",
    "state_path": "--state",
}


def flag_of(field: str) -> str:
    return FLAGS.get(field, "--" + field.replace("_", "-"))
