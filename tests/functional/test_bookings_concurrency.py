"""Threads booking and consuming the same seat at once: positions stay unique and dense, one booking is
charged and paid, and it is the first in line whose card pays.

Submitters call `api_handler` concurrently; consumer threads take inventory and payment messages from one
shared pool in any order (no FIFO group serialisation: the worst case, as when a DLQ redrive runs beside the
normal consumer) and put back whatever failed.

In-process moto is not thread-safe (its backends are plain dicts, and a conditional write is a check then a
write in Python), while DynamoDB applies each request atomically. The fixture makes each moto request atomic
with one lock, which is that guarantee and nothing more: our code runs fully concurrently between requests.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from picops.core.bookings.checker import check_seat
from picops.core.bookings.models import SeatState
from picops.core.bookings.payments import read_charges
from tests.bookings_support import INVENTORY_CONTEXT, PAYMENT_CONTEXT, TABLE, Harness, Message, sqs_event


@pytest.fixture
def pipe(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    from moto.core.botocore_stubber import BotocoreStubber

    atomic = threading.Lock()
    original = BotocoreStubber.__call__

    def one_request_at_a_time(self: Any, *args: Any, **kwargs: Any) -> Any:
        with atomic:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", one_request_at_a_time)
    harness = Harness(aws, monkeypatch)
    yield harness
    harness.close()


def test_concurrent_submitters_and_consumers_on_one_seat(
    pipe: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool: queue.Queue[tuple[str, str]] = queue.Queue()
    lock = threading.Lock()

    def publish(message: Any) -> None:
        body = json.dumps(message.as_dict())
        pool.put(("inventory", body))
        pool.put(("payment", body))

    monkeypatch.setattr(pipe.h, "_publisher", lambda account: publish)
    tokens: dict[str, str] = {}
    errors: list[BaseException] = []
    submitted = threading.Event()

    def submitter(n: int) -> None:
        try:
            for i in range(4):
                token = "tok_decline_x" if (n + i) % 3 == 0 else "tok_visa"
                receipt = pipe.book("gala", "A1", f"c{n}-{i}", token)
                with lock:
                    tokens[receipt["booking_id"]] = token
        except BaseException as exc:
            errors.append(exc)

    def consumer() -> None:
        try:
            while True:
                try:
                    kind, body = pool.get(timeout=0.5)
                except queue.Empty:
                    if submitted.is_set() and pool.empty():
                        return
                    continue
                handler, context = (
                    (pipe.h.inventory_handler, INVENTORY_CONTEXT)
                    if kind == "inventory"
                    else (pipe.h.payment_handler, PAYMENT_CONTEXT)
                )
                event = sqs_event([Message(f"{kind}-{id(body)}", body, "gala/A1", "d", 1)], kind)
                if handler(event, context)["batchItemFailures"]:
                    pool.put((kind, body))  # retried, as SQS would
        except BaseException as exc:
            errors.append(exc)

    submitters = [threading.Thread(target=submitter, args=(n,)) for n in range(4)]
    consumers = [threading.Thread(target=consumer) for _ in range(3)]
    for t in [*submitters, *consumers]:
        t.start()
    for t in submitters:
        t.join()
    submitted.set()
    for t in consumers:
        t.join()
    assert errors == []

    seat = pipe.store.load_seat("gala", "A1")
    assert seat is not None
    assert [e.position for e in seat.line] == list(range(1, 17))
    assert {e.booking_id for e in seat.line} == set(tokens)
    charges = {e.booking_id: read_charges(pipe.ddb, TABLE, e.booking_id) for e in seat.line}
    assert check_seat(seat, charges, now=pipe.now, drained=True) == []
    winner = next(e.booking_id for e in seat.line if tokens[e.booking_id] == "tok_visa")
    assert seat.state is SeatState.SOLD
    assert seat.holder == winner
    approved = {b for b, records in charges.items() if any(r.approvals for r in records)}
    assert approved == {winner}
    charged = [b for b, records in charges.items() if any(r.attempts for r in records)]
    # Only the declined ones before the winner were tried, and the winner itself.
    before = [e.booking_id for e in seat.line if e.position <= seat.entry(winner).position]  # type: ignore[union-attr]
    assert sorted(charged) == sorted(before)
