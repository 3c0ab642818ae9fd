"""The one rule for a command picops suggests: it keeps the global options that chose the target.

Messages everywhere name commands canonically, in backticks (`` `picops provision --plan` ``); the CLI passes
every line it prints through `rewrite`, which inserts the options this invocation was given (`--local`,
`--endpoint-url`, `--stack`, `--config`, `--profile`, `--region`). A suggestion copied from the terminal
therefore acts on the same stack it was printed for, never on a default one (or a real account when the
user was on a local endpoint). Starting an endpoint (`picops local up`) takes no target options but keeps the
port the target was on. See docs/operating.md.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# `local up|down|status` manage the endpoint itself (the state directory), not a stack on a target.
_TARGETLESS = (("local", "up"), ("local", "down"), ("local", "status"))
_COMMAND = re.compile(r"`picops(?P<args>(?: [^`]*)?)`")


@dataclass(frozen=True)
class Target:
    """The global options one invocation was given (None: not given)."""

    local: bool = False
    endpoint_url: str | None = None
    stack: str | None = None
    config: Path | None = None
    profile: str | None = None
    region: str | None = None
    # The local endpoint's port, when the target is (or was meant to be) one.
    port: int | None = None

    def options(self) -> list[str]:
        words: list[str] = []
        if self.config is not None:
            words += ["--config", str(self.config)]
        if self.local:
            words.append("--local")
        if self.endpoint_url:
            words += ["--endpoint-url", self.endpoint_url]
        for flag, value in (("--stack", self.stack), ("--profile", self.profile), ("--region", self.region)):
            if value:
                words += [flag, value]
        return words


def port_of(url: str | None) -> int | None:
    """The port of a loopback endpoint URL (None when the URL names none or cannot be read)."""
    if not url:
        return None
    try:
        return urlsplit(url).port
    except ValueError:
        return None


def command(target: Target | None, args: str) -> str:
    """`picops ARGS` as the user should type it against `target`. ARGS are kept as written (they may hold
    placeholders such as `QUEUE`); only the options put in are quoted for a shell."""
    args = args.strip()
    try:
        words = shlex.split(args)
    except ValueError:
        words = args.split()
    if target is None or "--help" in words or "-h" in words:
        return _join([], args)
    if tuple(words[:2]) in _TARGETLESS:
        extra: list[str] = []
        if words[:2] == ["local", "up"] and "--port" not in words and _non_default(target.port):
            extra = ["--port", str(target.port)]
        return _join([], args, extra)
    given = set(words)
    options = target.options()
    kept: list[str] = []
    i = 0
    while i < len(options):
        flag = options[i]
        takes_value = flag != "--local"
        if flag not in given:
            kept += options[i : i + 2] if takes_value else [flag]
        i += 2 if takes_value else 1
    return _join(kept, args)


def rewrite(text: str, target: Target | None) -> str:
    """Every `` `picops ...` `` in `text` with the target's options put in."""
    if target is None or "`picops" not in text:
        return text
    return _COMMAND.sub(lambda m: f"`{command(target, m.group('args'))}`", text)


def _non_default(port: int | None) -> bool:
    # Imported here: the endpoint module brings the settings, which a hint-free `--help` need not load.
    from picops.local.endpoint import DEFAULT_PORT

    return port is not None and port != DEFAULT_PORT


def _join(options: list[str], args: str, extra: list[str] | None = None) -> str:
    words = ["picops", *(shlex.quote(w) for w in options)]
    if args:
        words.append(args)
    words += [shlex.quote(w) for w in extra or []]
    return " ".join(words)


__all__ = ["Target", "command", "port_of", "rewrite"]
