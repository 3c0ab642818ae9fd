"""Safe releases of the stack's functions (docs/provision.md, "Safe releases"): the deploy strategies, the
alarms a shift watches, the traffic shift itself, the release history and rollback."""
