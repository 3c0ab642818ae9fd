"""The root Typer app: global options, error-to-exit-code mapping, and the command groups."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from picops import __version__
from picops.aws import translate_error
from picops.cli.output import Output
from picops.cli.state import AppState, get_state

HELP_OPTION_NAMES = ["-h", "--help"]


def _hide_flag_type(params: list[Any]) -> None:
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""


def _hide_flag_types(command: Any) -> None:
    """On/off flags take no value, so `--help` shows no type for them (Typer would print `<bool>`)."""
    # The help option is made (and cached) on first use; make it now so it is covered too.
    help_option = command.get_help_option(typer.Context(command, help_option_names=HELP_OPTION_NAMES))
    _hide_flag_type([*getattr(command, "params", []), help_option])
    for sub in (getattr(command, "commands", None) or {}).values():
        _hide_flag_types(sub)


class PicopsGroup(TyperGroup):
    """Maps picops errors, AWS SDK errors and Ctrl-C to the documented exit codes for every command."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _hide_flag_types(self)

    def get_params(self, ctx: Any) -> list[Any]:
        # Typer appends the shell-completion options to the root after constructing it.
        params: list[Any] = super().get_params(ctx)
        _hide_flag_type(params)
        return params

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Typer's main, except that a usage error is one `error:` line (not a box) and Ctrl-C at any
        prompt exits 130."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":
                # A group called bare: its help (exit 2).
                exc.show()  # type: ignore[attr-defined]
            else:
                Output().error(usage_line(exc))
            sys.exit(exc.exit_code)
        except typer.Abort:
            Output().error("interrupted")
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: Any) -> Any:
        state = ctx.obj if isinstance(ctx.obj, AppState) else None
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            Output().error("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:
            state = ctx.obj if isinstance(ctx.obj, AppState) else state
            endpoint = None
            if state is not None and state._settings is not None:
                endpoint = state._settings.aws.endpoint_url
            error = translate_error(exc, endpoint)
            if error is None:
                raise
            if state is not None and state.verbose:
                # The traceback is for -v only; everyone else gets the one line (and its fix).
                traceback.print_exception(exc, file=sys.stderr)
            target = state.hint_target() if state is not None else None
            Output(target=target).error(error.message, error.hint)
            raise typer.Exit(error.exit_code) from None


def usage_line(exc: typer.TyperException) -> str:
    """A usage error as one line naming the command and where its options are listed."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if exc.exit_code == 2 and ctx is not None:
        return f"{message} (see `{ctx.command_path} --help`)"
    return message


app = typer.Typer(
    name="picops",
    cls=PicopsGroup,
    help="Stand up, ship and operate the PicMetrics photo pipelines on AWS (or on a local endpoint).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": HELP_OPTION_NAMES},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"picops {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="PICOPS_CONFIG",
            metavar="PATH",
            help="TOML config file (default ./picops.toml).",
        ),
    ] = None,
    stack: Annotated[
        str | None, typer.Option("--stack", metavar="NAME", help="Stack name (env PICOPS_STACK).")
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", metavar="REGION", help="AWS region (env PICOPS_REGION).")
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", metavar="PROFILE", help="AWS named profile (env PICOPS_PROFILE)."),
    ] = None,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            metavar="URL",
            help="Send every AWS request here, e.g. a local endpoint (env PICOPS_ENDPOINT_URL).",
        ),
    ] = None,
    local: Annotated[
        bool, typer.Option("--local", help="Target the endpoint started by `picops local up --detach`.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="Log details (and tracebacks) to stderr.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Global options apply to every command."""
    state = get_state(ctx)
    state.config_path = config
    state.use_local = local
    state.verbose = verbose
    state.overrides = {
        "aws": {"region": region, "profile": profile, "endpoint_url": endpoint_url},
        "stack": {"name": stack},
    }


def _register() -> None:
    # One module per command group; each registers only commands that are real.
    from picops.cli import (
        bookings,
        demo,
        deploy,
        dlq,
        events,
        health,
        ingest,
        invoke,
        local,
        logs,
        provision,
        tag_backfill,
    )

    app.add_typer(local.app, name="local")
    app.add_typer(dlq.app, name="dlq")
    app.add_typer(ingest.app, name="ingest")
    bookings.register(app)
    app.command("demo")(demo.demo)
    app.command("deploy")(deploy.deploy)
    provision.register(app)
    app.command("tag-backfill")(tag_backfill.tag_backfill)
    app.command("invoke")(invoke.invoke)
    app.add_typer(events.app, name="events")
    app.command("logs")(logs.logs)
    app.command("health")(health.health)


_register()
