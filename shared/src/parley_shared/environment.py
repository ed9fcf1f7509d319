"""Reading the environment variables every service shares (CONTRACT section 1)."""

from __future__ import annotations


def nats_servers(url: str) -> list[str]:
    """The servers named by `NATS_URL`: one URL, or several comma-separated (a cluster)."""
    servers = [part.strip() for part in url.split(",") if part.strip()]
    if not servers:
        raise ValueError("NATS_URL names no server")
    return servers
