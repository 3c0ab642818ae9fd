"""Build the `StackModel` for one stack from Settings, the account and the region (no AWS calls).

This is the single description every other part reads: plan/apply, status, destroy, the CloudFormation export,
IAM generation, and deploy (which takes its `FunctionSpec`s from here). It is composed from one small builder
per part of the stack (`picops.stack.builders`): shared storage and alerts, ingest, moderation, bookings and
operations.
"""

from __future__ import annotations

from picops.config import Settings
from picops.stack.builders import bookings, ingest, moderation, operations, queries, releases, repairs, shared
from picops.stack.builders.context import BuildContext
from picops.stack.model import StackModel
from picops.stack.names import StackNames

BUILDERS = (
    shared.build,
    ingest.build,
    moderation.build,
    bookings.build,
    repairs.build,
    operations.build,
    queries.build,
    releases.build,
)

__all__ = ["BUILDERS", "build_model"]


def build_model(settings: Settings, account: str, region: str, *, local: bool = False) -> StackModel:
    ctx = BuildContext(settings, StackNames(settings, account, region), account, region, local)
    resources = [resource for build in BUILDERS for resource in build(ctx)]
    return StackModel(settings.stack.name, account, region, local, tuple(resources))
