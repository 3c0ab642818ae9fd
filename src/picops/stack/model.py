"""The stack as one declarative model: frozen dataclasses, one per resource, built from Settings alone.

Nothing here talks to AWS. The planner reads live state for each resource and diffs it against `desired()`;
the executor creates/updates in `depends_on` order; the CloudFormation exporter renders the same objects; IAM
policies are generated from what each function is declared to use. Logical names follow DESIGN.md section 3,
and everything that hangs off a resource is named after it (`IngestFunctionRole`, `IngestQueuePolicy`).
"""

from __future__ import annotations

from dataclasses import dataclass

# Lambda handler entry points (contract: DESIGN.md section 5).
HANDLERS: dict[str, str] = {
    "IngestFunction": "picops.handlers.ingest.handler",
    "ModerationStreamFunction": "picops.handlers.moderation.stream_handler",
    "ModerationSweepFunction": "picops.handlers.moderation.sweep_handler",
    "BookingApiFunction": "picops.handlers.bookings.api_handler",
    "InventoryFunction": "picops.handlers.bookings.inventory_handler",
    "PaymentFunction": "picops.handlers.bookings.payment_handler",
}


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function as provision and deploy both see it.

    `environment` is a sorted tuple of pairs so the spec stays hashable and comparable; use `env` for a dict.
    `role` is the logical name of the function's IAM role (`<logical>Role`).
    """

    logical: str
    name: str
    handler: str
    environment: tuple[tuple[str, str], ...]
    timeout_s: int
    memory_mb: int
    runtime: str
    architecture: str
    role: str
    log_group: str
    alias: str = "live"

    @property
    def env(self) -> dict[str, str]:
        return dict(self.environment)

    @property
    def depends_on(self) -> tuple[str, ...]:
        return (self.role, f"{self.logical}LogGroup")
