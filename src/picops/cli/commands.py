# ruff: noqa: E501 - the summaries are the commands' help texts line for line, so they match exactly
"""The table of picops's commands, loaded on first use.

`picops --version` and `picops --help` must answer without importing boto3, pydantic-settings or any
command module (each pulls in the AWS SDK and the core): the root group lists the commands from this table
and imports a command's module only when that command runs (or its own help is asked for). Each entry carries
the first paragraph of the command's help so the root's help needs no import; tests/unit/test_cli_lazy.py
proves the table says what the loaded commands say, in the order `picops --help` has always shown them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LazyCommand:
    name: str
    module: str
    attr: str  # a function (one command) or a Typer app (a command group)
    summary: str  # the first paragraph of its help, as `picops --help` lists it


# Single commands first, then groups: the order Typer has always listed them in.
COMMANDS: tuple[LazyCommand, ...] = (
    LazyCommand(
        "demo",
        "picops.cli.demo",
        "demo",
        "Run the end-to-end demo on the embedded local endpoint (started if none is configured).",
    ),
    LazyCommand(
        "deploy",
        "picops.cli.deploy",
        "app",
        (
            "Build the Lambda bundle and deploy it: new code or configuration only where it differs, a published\n"
            "version, and alias `live` moved onto it (event sources and the API invoke `live`)."
        ),
    ),
    LazyCommand(
        "provision",
        "picops.cli.provision",
        "provision",
        (
            "Create or update the whole stack (buckets, queues, tables, topics, functions, roles, the API and\n"
            "their wiring) so live AWS matches your settings: plan against live state, check the wiring, then apply\n"
            "in dependency order. Idempotent: re-running changes nothing. See docs/provision.md."
        ),
    ),
    LazyCommand(
        "destroy",
        "picops.cli.provision",
        "destroy",
        (
            "Delete every resource of the stack in reverse dependency order. Refuses resources holding data unless\n"
            "--delete-data; never touches an external ModerationTable."
        ),
    ),
    LazyCommand(
        "status",
        "picops.cli.provision",
        "status",
        "Show every resource of the stack as ok, missing or drifted (exit 1 if any is not ok).",
    ),
    LazyCommand(
        "tag-backfill",
        "picops.cli.tag_backfill",
        "tag_backfill",
        "Tag every object in UploadsBucket (or an S3 Inventory) with its moderation verdict.",
    ),
    LazyCommand(
        "invoke",
        "picops.cli.invoke",
        "invoke",
        "Invoke one function's handler with an event and print its response (JSON), duration and logs.",
    ),
    LazyCommand(
        "logs",
        "picops.cli.logs",
        "logs",
        "Show a function's logs: CloudWatch Logs on AWS, the local runtime's log files on a local endpoint.",
    ),
    LazyCommand(
        "health",
        "picops.cli.health",
        "health",
        (
            "Alarm states, queue and DLQ depths with the oldest message's age, the stream's iterator age, the\n"
            "bookings outbox, seats PAYING past their lease and the last 24 h of ingest failures: green, amber or red,\n"
            "each with the first command to run. Exit 1 when any check is red. See docs/operating.md."
        ),
    ),
    LazyCommand(
        "local",
        "picops.cli.local",
        "app",
        "Run the embedded local AWS endpoint (moto's server, 127.0.0.1 only).",
    ),
    LazyCommand(
        "dlq",
        "picops.cli.dlq",
        "app",
        "Dead-letter queues: list, peek, redrive (native or manual), replay archives, purge.",
    ),
    LazyCommand(
        "ingest",
        "picops.cli.ingest",
        "app",
        "The ingest pipeline's jobs: status of an object, recent failures, reprocess objects.",
    ),
    LazyCommand(
        "bookings",
        "picops.cli.bookings",
        "app",
        "Bookings: book a seat through BookingsApi, inspect seats against the booking rules, republish.",
    ),
    LazyCommand(
        "trace",
        "picops.cli.trace",
        "app",
        "Follow one booking, seat or uploaded object through every function, queue and table.",
    ),
    LazyCommand(
        "events",
        "picops.cli.events",
        "app",
        "Generate Lambda events in AWS's exact shapes, filled with the stack's real names.",
    ),
)
