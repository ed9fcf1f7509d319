"""Adapters: PostgreSQL, NATS and HTTP."""
