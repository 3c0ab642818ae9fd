"""The root Typer app: global options, error-to-exit-code mapping, and the command groups."""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from picops import __version__
from picops.cli.commands import COMMANDS, LazyCommand

if TYPE_CHECKING:
    from picops.cli.output import Output

# Only what `--version` and `--help` need is imported at start-up: the AWS SDK, the settings and rich's
# console come in with the first command that uses them (see picops/cli/commands.py).

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


def _output(target: Any = None) -> Output:
    from picops.cli.output import Output

    return Output(target=target)


def load_command(entry: LazyCommand) -> Any:
    """Import one command's module and build its click command as Typer would have at start-up."""
    obj = getattr(importlib.import_module(entry.module), entry.attr)
    holder = typer.Typer()
    holder.callback()(lambda: None)  # a callback keeps the holder a group, whatever it holds
    if isinstance(obj, typer.Typer):
        holder.add_typer(obj, name=entry.name)
    else:
        holder.command(entry.name)(obj)
    command = typer.main.get_command(holder).commands[entry.name]  # type: ignore[attr-defined]
    _hide_flag_types(command)
    return command


class PicopsGroup(TyperGroup):
    """Maps picops errors, AWS SDK errors and Ctrl-C to the documented exit codes for every command, and loads
    each command's module only when that command is used."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._lazy = {entry.name: entry for entry in COMMANDS}
        super().__init__(*args, **kwargs)
        _hide_flag_type(
            [*self.params, self.get_help_option(typer.Context(self, help_option_names=HELP_OPTION_NAMES))]
        )

    # Anything that reads `commands` (the docs generator, tests walking the tree) sees every command loaded;
    # the paths a plain run takes (list/get/resolve below) do not touch it.
    @property
    def commands(self) -> MutableMapping[str, Any]:
        for name in list(self._lazy):
            self._load(name)
        return self._commands

    @commands.setter
    def commands(self, value: MutableMapping[str, Any]) -> None:
        self._commands = value

    def _load(self, name: str) -> Any:
        entry = self._lazy.pop(name, None)
        if entry is not None:
            self._commands[name] = load_command(entry)
        return self._commands.get(name)

    def list_commands(self, ctx: Any) -> list[str]:
        return [
            entry.name for entry in COMMANDS if entry.name in self._lazy or entry.name in self._commands
        ] + [name for name in self._commands if name not in {entry.name for entry in COMMANDS}]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = self._lazy.get(cmd_name)
        if entry is not None:
            # Listing only (the root's help): the summary stands in for the command, nothing is imported.
            return TyperCommand(entry.name, help=entry.summary)
        return self._commands.get(cmd_name)

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        if args and args[0] in self._lazy:
            self._load(args[0])
        return super().resolve_command(ctx, args)

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
                _output().error(usage_line(exc))
            sys.exit(exc.exit_code)
        except typer.Abort:
            _output().error("interrupted")
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: Any) -> Any:
        from picops.cli.state import AppState

        state = ctx.obj if isinstance(ctx.obj, AppState) else None
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            _output().error("interrupted")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # --help, usage errors and exits: main() handles them, without the SDK
        except Exception as exc:
            from picops.aws import translate_error

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
            from picops.cli.flags import flag_of

            _output(target).error(*error.worded(flag_of))
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
    from picops.cli.state import get_state

    state = get_state(ctx)
    state.config_path = config
    state.use_local = local
    state.verbose = verbose
    state.overrides = {
        "aws": {"region": region, "profile": profile, "endpoint_url": endpoint_url},
        "stack": {"name": stack},
    }
