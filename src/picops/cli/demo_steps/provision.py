"""Demo step: stand the whole stack up on the demo endpoint, then check every resource's status."""

from __future__ import annotations

from collections import Counter

from picops.cli.demo_steps import DemoContext, DemoStep, StepResult
from picops.provision import Hooks
from picops.provision import run as provision
from picops.provision.plan import context_for
from picops.provision.status import healthy, stack_status


def run(ctx: DemoContext) -> StepResult:
    # The use case `picops provision --yes` runs: the same checks, and its warnings shown.
    outcome = provision(ctx.settings, ctx.factory, hooks=Hooks(on_warning=ctx.out.warn))
    live, applied = outcome.live, outcome.applied
    # A fresh read of everything: the step passes only if the stack really is as modelled.
    document = stack_status(context_for(ctx.settings, ctx.factory))
    counts = Counter(r["status"] for r in document["resources"])
    ok = healthy(document)
    names = live.names
    ctx.shared["stack"] = {
        "name": live.model.stack,
        "uploads_bucket": names.uploads_bucket,
        "processed_bucket": names.processed_bucket,
        "moderation_table": names.moderation_table,
        "account": live.model.account,
        "region": live.model.region,
    }
    ctx.out.table(
        f"stack {document['stack']}",
        ["logical", "type", "status"],
        [(r["logical"], r["type"], r["status"]) for r in document["resources"]],
    )
    bad = [f"{r['logical']} {r['status']}" for r in document["resources"] if r["status"] != "ok"]
    detail = f"{len(applied)} changes applied; {counts['ok']}/{len(document['resources'])} resources ok"
    if bad:
        detail += f" (not ok: {', '.join(bad[:5])})"
    return StepResult(
        name="provision + status",
        ok=ok,
        detail=detail,
        data={"applied": len(applied), "status": dict(counts), "resources": len(document["resources"])},
    )


STEP = DemoStep(title="provisioning the stack on the local endpoint", run=run)
