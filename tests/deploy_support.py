"""Helpers shared by the bundle/deploy tests: offline bundle settings, IAM roles, API call counting."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from picops.config import Settings, load_settings
from picops.stack.model import FunctionSpec

# The Lambda runtime matching this interpreter: a bundle copied from this environment is then faithful,
# so tests build it offline with no platform warning.
RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def bundle_settings(cache: Path, endpoint: str | None = None, **deploy: Any) -> Settings:
    """Settings that build bundles offline from this environment, cached under `cache`."""
    values: dict[str, Any] = {
        "dependency_source": "environment",
        "runtime": RUNTIME,
        "cache_dir": str(cache),
    }
    values.update(deploy)
    return load_settings(
        overrides={"aws": {"region": "us-east-1", "endpoint_url": endpoint}, "deploy": values},
        use_files=False,
    )


def create_roles(factory: Any, specs: Iterable[FunctionSpec]) -> None:
    iam = factory.client("iam")
    for spec in specs:
        iam.create_role(RoleName=spec.role_arn.rsplit("/", 1)[1], AssumeRolePolicyDocument=TRUST)


class CallCounter:
    """Counts API operations made through clients it is attached to (botocore `before-call` events)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def attach(self, client: Any) -> Any:
        service = client.meta.service_model.service_name
        client.meta.events.register(f"before-call.{service}.*", self._count, unique_id=f"count-{id(self)}")
        return client

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def __getitem__(self, operation: str) -> int:
        return self.calls[operation]
