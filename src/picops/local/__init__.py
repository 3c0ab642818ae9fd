"""Local mode: the embedded AWS endpoint (moto's server) and the local runtime that drives the handlers."""
