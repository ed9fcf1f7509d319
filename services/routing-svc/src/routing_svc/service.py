"""How `make run` starts routing-svc (entry point group `parley.services`)."""

from __future__ import annotations

from typing import Any

SERVICE: dict[str, Any] = {
    "name": "routing-svc",
    "order": 20,
    "port_env": "ROUTING_HTTP_PORT",
    "default_port": 8081,
    "prepare": None,
    "command": ["routing-svc", "serve"],
    "urls": {"messaging API": "/v1/messages", "OpenAPI": "/openapi.json", "metrics": "/metrics"},
}
