"""How `make run` starts webhook-svc (entry point group `parley.services`)."""

from __future__ import annotations

from typing import Any

SERVICE: dict[str, Any] = {
    "name": "webhook-svc",
    "order": 30,
    "port_env": "WEBHOOK_HTTP_PORT",
    "default_port": 8082,
    "prepare": None,
    "command": ["webhook-svc", "all"],
    "urls": {"metrics": "/metrics"},
}
