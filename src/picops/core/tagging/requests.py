"""Count the HTTP requests a client sends, per API, with a botocore event hook.

`before-send` fires once per attempt (retries included), so the counts are what AWS bills and sees.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from typing import Any

_ids = itertools.count()


class RequestCounter:
    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._attached: list[tuple[Any, str]] = []

    def _on_send(self, event_name: str = "", **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        with self._lock:
            self._counts[operation] += 1

    def attach(self, *clients: Any) -> RequestCounter:
        for client in clients:
            unique = f"picops-request-counter-{next(_ids)}"
            client.meta.events.register("before-send", self._on_send, unique_id=unique)
            self._attached.append((client, unique))
        return self

    def detach(self) -> None:
        for client, unique in self._attached:
            client.meta.events.unregister("before-send", unique_id=unique)
        self._attached.clear()

    def __enter__(self) -> RequestCounter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.detach()

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())
