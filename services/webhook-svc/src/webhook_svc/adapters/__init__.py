"""Adapters: NATS, HTTP and storage."""
