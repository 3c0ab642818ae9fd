"""Thin Lambda entry points: parse the event, call core, shape the response.

The public API is the handler modules (their entry points are contracts: `picops.handlers.ingest.handler`,
`picops.handlers.moderation.stream_handler`, ...). Nothing is imported here, so a Lambda loads only its own.
"""

__all__ = ["bookings", "ingest", "moderation"]
