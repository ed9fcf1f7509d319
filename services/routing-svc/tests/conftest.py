"""Fixtures for routing-svc tests (defined in `routing_fixtures`, so that cross-service suites
can import them too)."""

from routing_fixtures import log_stream, master_key, routing, routing_settings, sandbox

__all__ = ["log_stream", "master_key", "routing", "routing_settings", "sandbox"]
