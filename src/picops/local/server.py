"""`python -m picops.local.server --port N`: moto's server on 127.0.0.1 until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from picops.local.endpoint import HOST


def _print(url: str) -> None:
    print(f"picops local endpoint listening on {url}", flush=True)


def install_extensions() -> None:
    """What the embedded endpoint adds to moto (S3 event notifications with versionId and sequencer, saved
    Logs Insights queries): anything that serves picops's stack from moto in this process installs them."""
    from picops.local import query_definitions, s3_events

    s3_events.install()
    query_definitions.install()


def serve(port: int, stop: threading.Event, on_ready: Callable[[str], None] = _print) -> None:
    """Serve until `stop` is set; `on_ready(url)` once the server accepts requests."""
    from moto.server import ThreadedMotoServer

    install_extensions()
    # One access-log line per request would grow .picops/local.log without bound.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    server.start()
    on_ready(f"http://{HOST}:{port}")
    try:
        stop.wait()
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="picops-local-server")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    serve(args.port, stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
