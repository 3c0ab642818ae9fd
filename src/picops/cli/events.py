"""`picops events generate KIND`: Lambda events in AWS's exact shapes, filled with the stack's real names."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from picops.cli.state import AppState, get_state
from picops.errors import UsageError
from picops.local.event_kinds import KINDS, EventGenerator, EventOptions, describe_kinds
from picops.stack.build import build_model
from picops.stack.model import StackModel

app = typer.Typer(
    help="Generate Lambda events in AWS's exact shapes, filled with the stack's real names.",
    no_args_is_help=True,
)


def stack_model(state: AppState, *, account: str | None = None, announce: bool = True) -> StackModel:
    """The stack model for the configured target (the account from STS unless given); the target line
    goes to stderr so stdout stays the command's output."""
    factory = state.factory
    if account is not None:
        if not (account.isdigit() and len(account) == 12):
            raise UsageError(f"--account must be a 12-digit AWS account id, not {account!r}")
    else:
        if announce:
            state.output(True).target(factory.describe_target())
        account = factory.account_id()
    return build_model(state.settings, account, factory.region, local=factory.is_local)


_KIND_HELP = "Event kind: " + "; ".join(f"{k} ({v})" for k, v in describe_kinds().items()) + "."


@app.command("generate")
def generate(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help=_KIND_HELP, show_default=False)],
    bucket: Annotated[str | None, typer.Option("--bucket", help="Bucket (default UploadsBucket).")] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", help="Object key, unencoded (default <ingest prefix>example photo.jpg)."),
    ] = None,
    size: Annotated[int, typer.Option("--size", min=0, help="Object size in bytes (s3 kinds).")] = 1024,
    version: Annotated[str | None, typer.Option("--version", help="Object version id.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="ddb-stream: the verdict (default the first status).")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="ddb-stream: INSERT, MODIFY or REMOVE.")] = "INSERT",
    schema: Annotated[str, typer.Option("--schema", help="s3-batch: invocation schema 1.0 or 2.0.")] = "2.0",
    method: Annotated[str, typer.Option("--method", help="apigw-http: HTTP method.")] = "POST",
    path: Annotated[
        str, typer.Option("--path", help="apigw-http: path, with an optional ?query.")
    ] = "/bookings",
    body: Annotated[str | None, typer.Option("--body", help="apigw-http / sqs-fifo: body text.")] = None,
    group: Annotated[str, typer.Option("--group", help="sqs-fifo: message group id.")] = "default",
    queue: Annotated[
        str | None, typer.Option("--queue", help="sqs kinds: queue logical or physical name.")
    ] = None,
    account: Annotated[
        str | None, typer.Option("--account", help="Account id for names and ARNs (skips the STS lookup).")
    ] = None,
    json_mode: Annotated[bool, typer.Option("--json", help="Print the event compactly (one line).")] = False,
) -> None:
    """Print one event of KIND as the function receives it on AWS (pipe it to `picops invoke F --event -`)."""
    if kind not in KINDS:
        raise UsageError(f"unknown event kind {kind!r}", hint=f"kinds: {', '.join(KINDS)}")
    state = get_state(ctx)
    model = stack_model(state, account=account)
    options = EventOptions(
        bucket=bucket,
        key=key,
        size=size,
        version=version,
        status=status,
        event_name=name,
        schema=schema,
        method=method,
        path=path,
        body=body,
        group=group,
        queue=queue,
    )
    event = EventGenerator(model, state.settings).generate(kind, options)
    text = (
        json.dumps(event, ensure_ascii=False)
        if json_mode
        else json.dumps(event, indent=2, ensure_ascii=False)
    )
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
