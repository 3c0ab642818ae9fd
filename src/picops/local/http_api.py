"""BookingsApi on a loopback port for `picops local run --api-port PORT` (docs/local.md).

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


_REASONS = {400: "Bad Request", 413: "Request Entity Too Large", 431: "Request Header Fields Too Large"}
_DIGITS = re.compile(r"[0-9]+")


class BadRequest(Exception):
    """A request the API answers with a 4xx before any route is looked at."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def read_body(req: BaseHTTPRequestHandler) -> bytes:
    """The request body, as API Gateway frames it: Content-Length or chunked, at most MAX_BODY bytes.

    Raises BadRequest for header lines that are not `name: value`, a Content-Length that is not one
    non-negative integer, both Content-Length and Transfer-Encoding (a request smuggling shape), or a
    malformed chunk; 413 over MAX_BODY."""
    if req.headers.defects:
        raise BadRequest(400, "Bad Request: malformed header line")
    lengths = {v.strip() for v in req.headers.get_all("content-length") or []}
    encoding = (req.headers.get("transfer-encoding") or "").strip().lower()
    if encoding and lengths:
        raise BadRequest(400, "Bad Request: both Content-Length and Transfer-Encoding")
    if encoding:
        if encoding != "chunked":
            raise BadRequest(400, f"Bad Request: Transfer-Encoding {encoding!r} is not supported")
        return _read_chunked(req)
    if not lengths:
        return b""
    if len(lengths) > 1 or not _DIGITS.fullmatch(next(iter(lengths))):
        raise BadRequest(400, "Bad Request: Content-Length is not one non-negative integer")
    length = int(next(iter(lengths)))
    if length > MAX_BODY:
        raise BadRequest(413, "Request Entity Too Large")
    return req.rfile.read(length) if length else b""


def _read_chunked(req: BaseHTTPRequestHandler) -> bytes:
    body = bytearray()
    while True:
        line = req.rfile.readline(1024).split(b";", 1)[0].strip()
        if not re.fullmatch(rb"[0-9A-Fa-f]{1,8}", line):
            raise BadRequest(400, "Bad Request: malformed chunk size")
        size = int(line, 16)
        if len(body) + size > MAX_BODY:
            raise BadRequest(413, "Request Entity Too Large")
        if size == 0:
            while req.rfile.readline(1024).strip():  # trailer fields, up to the blank line
                pass
            return bytes(body)
        body += req.rfile.read(size)
        if req.rfile.readline(1024).strip():
            raise BadRequest(400, "Bad Request: malformed chunk")


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

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                # The standard library's answer to a request it cannot parse (request line, header lines,
                # version, method) is an HTML page, with no status line at all when the request line did not
                # name a version; API Gateway answers JSON. The connection closes after it either way.
                if self.request_version == "HTTP/0.9":
                    self.request_version = self.protocol_version
                if code >= 500:  # an unsupported HTTP version is the client's request too
                    code, message = 400, None
                self.close_connection = True
                text = message or _REASONS.get(code, "Error")
                api._reply(
                    self,
                    code,
                    {"content-type": "application/json", "connection": "close"},
                    json.dumps({"message": text}).encode(),
                )

            def __getattr__(self, name: str) -> Any:
                # Any method token reaches the routes (API Gateway answers 404 for a method no route has),
                # not the standard library's 501.
                if name.startswith("do_"):
                    return self._serve
                raise AttributeError(name)

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
        try:
            body = read_body(req)
        except BadRequest as exc:
            req.send_error(exc.status, exc.message)
            return
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
