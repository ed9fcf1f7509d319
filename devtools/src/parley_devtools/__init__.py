"""Parley's local stack: embedded NATS and PostgreSQL, the `make run` runner, pytest fixtures."""
