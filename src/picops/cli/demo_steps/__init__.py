"""Demo steps, in the order the demo runs them. Each module exposes `STEP`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from picops.aws import ClientFactory
from picops.cli.output import Output
from picops.config import Settings

if TYPE_CHECKING:
    from picops.local.faults import FaultSpec


@dataclass
class DemoContext:
    settings: Settings
    factory: ClientFactory
    out: Output
    # Clients strict mode does not guard, for what the demo does as an observer outside the stack: the
    # endpoint probe's scratch bucket and the notification tap are no operator's resources, and no stack
    # policy names them. Everything the operator or a handler does goes through `factory`.
    observer: ClientFactory | None = None
    # Steps hand facts to later steps here (e.g. provision records the stack's physical names).
    shared: dict[str, Any] = field(default_factory=dict)
    # `picops demo --faults`: the ingest step's local runtime runs under these (docs/local.md, "Faults").
    faults: FaultSpec | None = None


@dataclass
class StepResult:
    name: str
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "data": self.data,
            "elapsed_s": self.elapsed_s,
        }


@dataclass(frozen=True)
class DemoStep:
    title: str
    run: Callable[[DemoContext], StepResult]


def _steps() -> list[DemoStep]:
    from picops.cli.demo_steps import (
        bookings,
        dlq,
        health,
        ingest,
        local_runtime,
        provision,
        renditions,
        tag_backfill,
    )

    return [
        health.STEP,
        provision.STEP,
        tag_backfill.STEP,
        local_runtime.STEP,
        dlq.STEP,
        bookings.STEP,
        ingest.STEP,
        renditions.STEP,
    ]


STEPS: list[DemoStep] = _steps()
