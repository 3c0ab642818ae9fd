"""Demo step: one seat booked four times, the first with a declining card, through the local BookingsApi.

The local runtime serves BookingsApi on a free loopback port (what `picops local run --api-port` does); four
customers POST /bookings for the same seat; one drain of the runtime's mappings runs the inventory and
payment consumers. The first booking's card is declined, so the seat passes to the second, which is charged
once; the other two are LOST; the invariant checker (`picops bookings inspect`) finds no violation. Under
`picops demo --faults` the consumers' batches are duplicated, crashed after their writes and throttled, and
the runtime runs until the queues are idle: the outcome and the checks are the same.
"""

from __future__ import annotations

import time
import uuid

from rich.markup import escape

from picops.cli.bookings import QUEUES, call_api
from picops.cli.demo_steps import DemoContext, DemoStep, StepResult
from picops.cli.demo_steps.logview import demo_log_view
from picops.core.bookings import BookingStore, QueueCount, inspect_table
from picops.core.dlq import resolve_queue
from picops.local.runtime import LocalRuntime
from picops.stack.names import StackNames

EVENT = "demo-gala"
CARDS = ("tok_decline_demo", "tok_visa", "tok_visa", "tok_visa")
EXPECTED = ["PAYMENT_FAILED", "PAID", "LOST", "LOST"]


def run(ctx: DemoContext) -> StepResult:
    factory = ctx.factory
    names = StackNames(ctx.settings, factory.account_id(), factory.region)
    seat = f"seat-{uuid.uuid4().hex[:8]}"
    runtime = LocalRuntime(
        factory,
        ctx.settings,
        progress=lambda line: ctx.out.status(f"  {escape(line)}"),
        log_view=demo_log_view(ctx.out),
        faults=ctx.faults,
    )
    receipts = []
    try:
        runtime.prepare()
        api = runtime.start_api(0)
        for n, card in enumerate(CARDS):
            body = {
                "event_id": EVENT,
                "seat_id": seat,
                "customer_id": f"customer-{n + 1}",
                "payment_token": card,
            }
            status, doc = call_api(api.url, "POST", "/bookings", body)
            if status != 202:
                return StepResult("bookings", False, f"POST /bookings answered {status}: {doc}")
            receipts.append(doc)
        if runtime.faults is None:
            runtime.drain()
        else:
            # A drain ends on a poll of redeliveries; crashed and duplicated batches come back as those.
            runtime.run_until_idle()
    finally:
        runtime.close()
    injected = runtime.summary()["faults"]
    sqs = factory.client("sqs")
    queues = []
    for logical in QUEUES:
        ref = resolve_queue(sqs, logical, names)
        queues.append(QueueCount(logical, ref.visible, ref.in_flight))
    store = BookingStore(factory.client("dynamodb"), names.physical("BookingsTable"))
    report = inspect_table(
        store,
        queues=queues,
        event_id=EVENT,
        seat_id=seat,
        now=time.time(),
        republish_after_s=ctx.settings.bookings.republish_after_s,
    )
    bookings = report.seats[0]["bookings"] if report.seats else []
    by_id = {b["booking_id"]: b for b in bookings}
    states = [by_id.get(r["booking_id"], {}).get("state") for r in receipts]
    charges = [by_id.get(r["booking_id"], {}).get("charges") for r in receipts]
    ok = states == EXPECTED and charges == [0, 1, 0, 0] and report.ok
    detail = (
        f"{EVENT}/{seat} booked 4 times (first card declined): "
        + ", ".join(f"#{r['position']} {s}" for r, s in zip(receipts, states, strict=True))
        + f"; approved charges {charges}; inspect: "
        + ("no violations" if report.ok else "; ".join(v.detail for v in report.violations))
    )
    return StepResult(
        name="bookings (API -> inventory -> payment)",
        ok=ok,
        detail=detail,
        data={
            "seat": seat,
            "bookings": bookings,
            "violations": [v.as_dict() for v in report.violations],
            **({"faults": injected} if injected else {}),
        },
    )


STEP = DemoStep(title="booking one seat four times through the local BookingsApi", run=run)
