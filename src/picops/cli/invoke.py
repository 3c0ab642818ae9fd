"""`picops invoke FUNCTION`: one handler in-process on the local endpoint, or the deployed one (--remote)."""

from __future__ import annotations

import base64
import json
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from picops.cli.events import stack_model
from picops.cli.output import Output
from picops.cli.state import get_state
from picops.errors import OperationFailed, ResourceMissing, UsageError, ValidationFailed
from picops.local.event_kinds import EventGenerator, find_function
from picops.local.handler_logs import LOG_FORMAT_HELP, HandlerLogView, log_format_of
from picops.local.invoke import HandlerBroken, HandlerUnavailable, Invoker
from picops.local.logfiles import log_dir, log_path
from picops.local.mappings import target_of
from picops.stack.model import FunctionSpec

_REPORT_DURATION = re.compile(r"\bDuration: ([0-9.]+) ms")


def read_event(source: str) -> Any:
    """The event from a file or `-` (stdin); exit 2 when it cannot be read or is not JSON."""
    where = "stdin" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read event file {where}: {exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValidationFailed(f"event from {where} is not JSON: {exc}") from None


def remote_invoke(lam: Any, spec: FunctionSpec, event: Any) -> dict[str, Any]:
    """Lambda Invoke (RequestResponse, log tail) on the function's `live` alias."""
    began = time.monotonic()
    response = lam.invoke(
        FunctionName=spec.name,
        Qualifier=spec.alias,
        InvocationType="RequestResponse",
        LogType="Tail",
        Payload=json.dumps(event).encode(),
    )
    elapsed_ms = (time.monotonic() - began) * 1000
    raw = response["Payload"].read() if response.get("Payload") is not None else b""
    try:
        payload: Any = json.loads(raw) if raw else None
    except ValueError:
        payload = raw.decode("utf-8", "replace")
    logs = (
        base64.b64decode(response["LogResult"]).decode("utf-8", "replace")
        if response.get("LogResult")
        else ""
    )
    match = _REPORT_DURATION.search(logs)
    error = None
    if response.get("FunctionError"):
        detail = payload if isinstance(payload, dict) else {}
        error = {
            "type": str(detail.get("errorType", response["FunctionError"])),
            "message": str(detail.get("errorMessage", payload)),
            "traceback": [str(line) for line in detail.get("stackTrace") or []],
        }
    return {
        "response": None if error else payload,
        "error": error,
        "duration_ms": round(float(match.group(1)) if match else elapsed_ms, 3),
        "request_id": response.get("ResponseMetadata", {}).get("RequestId"),
        "executed_version": response.get("ExecutedVersion"),
        "logs": logs.splitlines(),
    }


def local_invoke(
    state: Any, spec: FunctionSpec, model: Any, event: Any, view: HandlerLogView | None = None
) -> dict[str, Any]:
    """Run the handler in this process with the function's environment and context (as `local run`)."""
    from picops.local.runtime import require_local

    factory = state.factory
    endpoint = require_local(factory)
    target = target_of(model, spec)
    invoker = Invoker(
        endpoint_url=endpoint,
        region=factory.region,
        log_dir=log_dir(),
        installers=factory.installers,
        view=view,
    )
    try:
        try:
            handler = invoker.load(target)
        except HandlerUnavailable as exc:
            raise ResourceMissing(
                f"{spec.logical}: {exc}", hint="the handler module is not built yet in this checkout"
            ) from None
        except HandlerBroken as exc:
            raise OperationFailed(f"{spec.logical}: {exc}") from None
        result = invoker.invoke(target, handler, event)
    finally:
        invoker.close()
    error = None
    if result.error is not None:
        raised = result.error
        trace = traceback.format_exception(type(raised), raised, raised.__traceback__)
        error = {
            "type": type(raised).__name__,
            "message": str(raised),
            "traceback": "".join(trace).splitlines(),
        }
    return {
        "response": result.response,
        "error": error,
        "duration_ms": round(result.elapsed_s * 1000, 3),
        "request_id": result.request_id,
        "timed_out": result.timed_out,
        "log_file": str(log_path(target.name)),
        "logs": result.logs,
    }


def invoke(
    ctx: typer.Context,
    function: Annotated[str, typer.Argument(help="Logical (IngestFunction) or physical function name.")],
    event: Annotated[
        str | None,
        typer.Option(
            "--event",
            "-e",
            help="Event JSON file, or - for stdin. Default: a generated event for the function's trigger.",
        ),
    ] = None,
    remote: Annotated[
        bool, typer.Option("--remote", help="Call Lambda Invoke on the deployed `live` alias instead.")
    ] = False,
    log_format: Annotated[
        str | None, typer.Option("--log-format", metavar="FORMAT", help=LOG_FORMAT_HELP)
    ] = None,
    json_mode: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Invoke one function's handler with an event and print its response (JSON), duration and logs.

    In-process on the local endpoint, with the same environment, context and stdout handling as `picops local
    run` (its logs go to stderr and to the function's log file, read by `picops logs`). Exit 1 when the
    handler raised, 2 for an event that is not JSON, 3 for an unknown function or a handler not built yet.
    """
    state = get_state(ctx)
    out = state.output(json_mode)
    view = HandlerLogView(
        log_format_of(log_format, verbose=state.verbose), lambda line: out.err.print(escape(line))
    )
    payload = read_event(event) if event is not None else None
    if not remote and not state.factory.is_local:
        raise UsageError(
            "picops invoke runs a handler in-process only against a local endpoint "
            f"(not {state.factory.endpoint_url or 'AWS'}): handlers never run here with real credentials",
            hint="pass --remote to invoke the deployed function's live alias, or --local",
        )
    model = stack_model(state)
    spec = find_function(model, function)
    kind = None
    if payload is None:
        kind, payload = EventGenerator(model, state.settings).default_event(spec.logical)
        out.status(f"event: a generated {kind} event (pass --event FILE for your own)")
    if remote:
        result = remote_invoke(state.factory.client("lambda"), spec, payload)
        for line in result["logs"]:
            out.err.print(line, markup=False, highlight=False)
    else:
        result = local_invoke(state, spec, model, payload, view)
    doc = {
        "function": spec.name,
        "logical": spec.logical,
        "handler": spec.handler,
        "mode": "remote" if remote else "local",
        "event_kind": kind,
        **{k: v for k, v in result.items() if k != "logs"},
    }
    if not remote:
        doc["metrics"] = view.summary()  # the handler's EMF metrics, counted (printed only with json logs)
    _render(out, doc, verbose=state.verbose)
    if doc["error"] is not None:
        raise typer.Exit(1)


def _render(out: Output, doc: dict[str, Any], *, verbose: bool) -> None:
    error = doc["error"]
    if out.json_mode:
        out.emit_json(doc)
    elif error is None:
        sys.stdout.write(json.dumps(doc["response"], indent=2, default=str) + "\n")
        sys.stdout.flush()
    where = f"{doc['logical']} ({doc['handler']}, {doc['mode']})"
    if error is not None:
        out.error(f"{where} raised {error['type']}: {error['message']}")
        if verbose:
            for line in error["traceback"]:
                out.err.print(line, markup=False, highlight=False)
    out.status(
        f"{escape(where)}: {doc['duration_ms']:.1f} ms, request id {doc['request_id']}"
        + (f"; logs: {escape(doc['log_file'])}" if doc.get("log_file") else "")
    )
