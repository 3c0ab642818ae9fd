"""Strict local mode: the local endpoint refuses what AWS refuses (IAM authorisation, request limits)."""
