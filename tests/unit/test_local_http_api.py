"""The local HTTP API answers every request it cannot use with a 4xx and a JSON body, over a raw socket:
never a dropped connection, never a 5xx for what the client sent (docs/local.md, "BookingsApi locally")."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from picops.local.http_api import LocalApi
from picops.local.invoke import FunctionTarget, Invoker


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[LocalApi, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        seen.append(event)
        return {"statusCode": 201, "body": json.dumps({"got": event.get("body")})}

    invoker = Invoker(endpoint_url="http://127.0.0.1:9", region="us-east-1")
    target = FunctionTarget("BookingApiFunction", "picops-booking-api", "tests.handler")
    server = LocalApi(invoker, target, handler, port=0, record=False)
    server.start()
    yield server, seen
    server.stop()


@pytest.fixture
def api(served: tuple[LocalApi, list[dict[str, Any]]]) -> tuple[LocalApi, list[dict[str, Any]]]:
    served[1].clear()
    return served


def _exchange(api: LocalApi, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as conn:
        conn.sendall(raw)
        conn.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    assert data, "the server closed the connection without answering"
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /bookings/x HTTP/1.1 extra\r\n\r\n", 400),
        (b"GET /bookings/x HTTP/9.9\r\nHost: a\r\n\r\n", 400),
        (b"POST /bookings HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n{}", 400),
        (b"POST /bookings HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n{}", 400),
        (b"POST /bookings HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400),
        (b"POST /bookings HTTP/1.1\r\nHost: a\r\nnot a header line\r\nContent-Length: 2\r\n\r\n{}", 400),
        (b"POST /bookings HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST /bookings HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400),
        (b"POST /bookings HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        (b"GET /bookings/x HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (b"POST /bookings HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 413),
        (b"BREW /bookings HTTP/1.1\r\nHost: a\r\n\r\n", 404),
    ],
)
def test_a_malformed_request_gets_a_4xx_json_answer_and_no_invocation(
    api: tuple[LocalApi, list[dict[str, Any]]], raw: bytes, status: int
) -> None:
    server, seen = api
    got, headers, body = _exchange(server, raw)
    assert got == status
    assert headers["content-type"] == "application/json"
    assert isinstance(json.loads(body)["message"], str)
    assert seen == []


def test_a_chunked_body_reaches_the_handler_whole(api: tuple[LocalApi, list[dict[str, Any]]]) -> None:
    server, seen = api
    raw = (
        b"POST /bookings HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
        b'Transfer-Encoding: chunked\r\n\r\n4\r\n{"a"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n'
    )
    status, _, body = _exchange(server, raw)
    assert status == 201
    assert json.loads(body) == {"got": '{"a": 1}'}
    assert [e["routeKey"] for e in seen] == ["POST /bookings"]


def test_a_well_formed_request_after_a_malformed_one_is_served(
    api: tuple[LocalApi, list[dict[str, Any]]],
) -> None:
    server, seen = api
    assert _exchange(server, b"POST /bookings HTTP/1.1\r\nContent-Length: x\r\n\r\n")[0] == 400
    raw = b"POST /bookings HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    assert _exchange(server, raw)[0] == 201
    assert [e["body"] for e in seen] == ["{}"]
