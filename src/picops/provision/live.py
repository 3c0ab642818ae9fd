"""Read the live state of each modelled resource: describe/get/list calls only, never a mutation.

`read(resource, ctx)` returns the resource's fields shaped like `Resource.desired()`, or None when the
resource does not exist. Identifiers AWS assigns (queue URLs, stream ARNs, API ids, mapping UUIDs) are kept
in `ctx.facts` so later resources (and the executor) can use them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from picops.aws import ClientFactory
from picops.config import Settings
from picops.provision import kinds
from picops.stack.model import Resource, StackModel
from picops.stack.names import StackNames

if TYPE_CHECKING:
    from picops.provision.bundle import Bundle


@dataclass
class Context:
    """Shared by planner, executor, status and destroy for one run."""

    factory: ClientFactory
    model: StackModel
    names: StackNames
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Set by destroy for its run: empty data-holding resources first, and report each emptied page.
    delete_data: bool = False
    on_empty: Callable[[str, int], None] | None = None
    # Set by the executor for its run: what creating or updating a function's code needs.
    settings: Settings | None = None
    bundle: Callable[[], Bundle] | None = None

    def client(self, service: str) -> Any:
        return self.factory.client(service)

    def fact(self, logical: str, key: str) -> Any:
        return self.facts.get(logical, {}).get(key)

    def deploy_inputs(self) -> tuple[Settings, Bundle]:
        if self.settings is None or self.bundle is None:
            raise RuntimeError("a function is applied only by the executor, which sets settings and bundle")
        return self.settings, self.bundle()

    def remember(self, logical: str, **values: Any) -> None:
        self.facts.setdefault(logical, {}).update(values)


def read(resource: Resource, ctx: Context) -> dict[str, Any] | None:
    """The resource's live fields, shaped like `desired()`; None when it does not exist."""
    return kinds.kind_of(resource).read(resource, ctx)


def resolved_desired(resource: Resource, ctx: Context) -> dict[str, Any]:
    """`desired()` with identifiers only live state knows filled in (stream ARN, API id, integration id)."""
    return kinds.kind_of(resource).desired(resource, ctx)
