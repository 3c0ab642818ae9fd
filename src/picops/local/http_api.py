"""BookingsApi on a loopback port for `picops local run --api-port PORT` (DESIGN.md section 6).

Each HTTP request becomes an API Gateway HTTP API (payload 2.0) event for the route it matches (routeKey,
rawPath, pathParameters, headers, body, isBase64Encoded, requestContext with http method/path, requestId and
time), is handed to BookingApiFunction's handler through the runtime's `Invoker` (the function's own
environment), and the handler's response goes back as the HTTP response. A request matching no route gets
API Gateway's own 404 `{"message":"Not Found"}` without invoking anything.

The server binds 127.0.0.1 only, answers each request on its own thread (invocations still take the
invoker's lock: the process environment is shared), and while it serves its URL is recorded in
`<state dir>/local-api.json` so `picops bookings book` finds it without flags.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import threading
import uuid
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from picops.config import state_dir
from picops.errors import UsageError
from picops.local.invoke import FunctionTarget, Handler, Invoker

HOST = "127.0.0.1"
DEFAULT_API_PORT = 3000
API_FUNCTION = "BookingApiFunction"
# BookingsApi's routes (picops.stack.builders.bookings.API_ROUTES), as (method, path pattern).
ROUTES: tuple[tuple[str, str], ...] = (("POST", "/bookings"), ("GET", "/bookings/{id}"))
MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
_TEXT_TYPES = re.compile(r"^(text/|application/(json|xml|x-www-form-urlencoded|javascript))")


def api_state_path() -> Path:
    return state_dir() / "local-api.json"


@dataclass(frozen=True)
class ApiRecord:
    url: str
    pid: int
    stack: str
    endpoint_url: str


def read_api_record(path: Path | None = None) -> ApiRecord | None:
    """The local API `picops local run` serves, or None when none is recorded (or its process is gone)."""
    path = path or api_state_path()
    try:
        raw = json.loads(path.read_text())
        record = ApiRecord(str(raw["url"]), int(raw["pid"]), str(raw["stack"]), str(raw["endpoint_url"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path} is corrupt ({exc}); remove it and restart `picops local run`") from None
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return record


def match_route(method: str, path: str) -> tuple[str | None, dict[str, str], bool]:
    """(routeKey, pathParameters, path matched some route) for a request."""
    parts = [p for p in path.split("/") if p]
    path_known = False
    for route_method, pattern in ROUTES:
        want = [p for p in pattern.split("/") if p]
        if len(want) != len(parts):
            continue
        params: dict[str, str] = {}
        for w, p in zip(want, parts, strict=True):
            if w.startswith("{") and w.endswith("}"):
                params[w[1:-1]] = unquote(p)
            elif w != p:
                break
        else:
            path_known = True
            if route_method == method:
                return f"{route_method} {pattern}", params, True
    return None, {}, path_known


def http_api_event(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: dict[str, str],
    body: bytes,
    route_key: str,
    path_parameters: dict[str, str],
    source_ip: str,
    api_id: str = "local",
    account: str = "123456789012",
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event, as the service builds it."""
    when = now or dt.datetime.now(dt.UTC)
    lowered = {k.lower(): v for k, v in headers.items()}
    text = bool(_TEXT_TYPES.match(lowered.get("content-type", "application/json")))
    try:
        decoded = body.decode("utf-8") if text else None
    except UnicodeDecodeError:
        decoded = None
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": lowered,
        "requestContext": {
            "accountId": account,
            "apiId": api_id,
            "domainName": lowered.get("host", HOST),
            "domainPrefix": api_id,
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": base64.b64encode(uuid.uuid4().bytes[:10]).decode("ascii"),
            "routeKey": route_key,
            "stage": "$default",
            "time": when.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(when.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    if raw_query:
        pairs = [p.split("=", 1) for p in raw_query.split("&") if p]
        event["queryStringParameters"] = {unquote(k): unquote(v[0]) if v else "" for k, *v in pairs}
    if body:
        if decoded is not None:
            event["body"] = decoded
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def response_parts(response: Any) -> tuple[int, dict[str, str], bytes]:
    """API Gateway's reading of a payload 2.0 response (a dict with statusCode, or any JSON value)."""
    if isinstance(response, dict) and "statusCode" in response:
        status = int(response.get("statusCode", 200))
        headers = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
        body = response.get("body") or ""
        raw = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode("utf-8")
        return status, headers, raw
    return 200, {"content-type": "application/json"}, json.dumps(response).encode("utf-8")


class LocalApi:
    """A threaded HTTP server in front of one function's handler."""

    def __init__(
        self,
        invoker: Invoker,
        target: FunctionTarget,
        handler: Handler,
        *,
        port: int = DEFAULT_API_PORT,
        stack: str = "picops",
        endpoint_url: str = "",
        record: bool = True,
        progress: Any = None,
    ) -> None:
        self.invoker, self.target, self.handler = invoker, target, handler
        self.stack, self.endpoint_url, self.record = stack, endpoint_url, record
        self.progress = progress or (lambda _line: None)
        self.requests = 0
        self.errors = 0
        self._lock = threading.Lock()
        api = self

        class RequestHandler(BaseHTTPRequestHandler):
            server_version = "picops-local-api"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                api._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

        try:
            self.server = ThreadingHTTPServer((HOST, port), RequestHandler)
        except OSError as exc:
            raise UsageError(
                f"cannot serve BookingsApi on {HOST}:{port}: {exc.strerror}",
                hint="pick another port with --api-port (0 turns the API off)",
            ) from None
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://{HOST}:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, name="local-api", daemon=True)
        self._thread.start()
        if self.record:
            path = api_state_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            record = ApiRecord(self.url, os.getpid(), self.stack, self.endpoint_url)
            tmp.write_text(json.dumps(asdict(record), indent=2) + "\n")
            os.replace(tmp, path)

    def stop(self) -> None:
        if self.record:
            path = api_state_path()
            try:
                current = read_api_record(path)
                if current is not None and current.url == self.url and current.pid == os.getpid():
                    path.unlink()
            except (OSError, UsageError):
                pass
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        split = urlsplit(req.path)
        method = req.command.upper()
        length = int(req.headers.get("content-length") or 0)
        if length > MAX_BODY:
            self._reply(
                req, 413, {"content-type": "application/json"}, b'{"message":"Request Entity Too Large"}'
            )
            return
        body = req.rfile.read(length) if length > 0 else b""
        route_key, params, _path_known = match_route(method, split.path)
        if route_key is None:
            # What API Gateway answers for a request no route matches (the function is not invoked).
            self._reply(req, 404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
            return
        event = http_api_event(
            method=method,
            raw_path=split.path,
            raw_query=split.query,
            headers=dict(req.headers.items()),
            body=body,
            route_key=route_key,
            path_parameters=params,
            source_ip=req.client_address[0],
        )
        result = self.invoker.invoke(self.target, self.handler, event)
        with self._lock:
            self.requests += 1
        if result.error is not None:
            with self._lock:
                self.errors += 1
            self.progress(
                f"BookingsApi {route_key}: function error: {type(result.error).__name__}: {result.error}"
            )
            self._reply(
                req, 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}'
            )
            return
        status, headers, raw = response_parts(result.response)
        self.progress(f"BookingsApi {method} {split.path} -> {status}")
        self._reply(req, status, headers, raw)

    @staticmethod
    def _reply(req: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
        req.send_response(status)
        for k, v in headers.items():
            if k.lower() != "content-length":
                req.send_header(k, v)
        req.send_header("content-length", str(len(body)))
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(body)
