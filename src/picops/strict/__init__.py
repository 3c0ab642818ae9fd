"""Strict local mode: the local endpoint refuses what AWS refuses (IAM authorisation, request limits)."""

from picops.strict.guard import Guard, Principal, acting_as, guard_for

__all__ = ["Guard", "Principal", "acting_as", "guard_for"]
