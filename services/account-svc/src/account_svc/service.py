"""How `make run` starts account-svc (entry point group `parley.services`)."""

from __future__ import annotations

from typing import Any

SERVICE: dict[str, Any] = {
    "name": "account-svc",
    "order": 10,
    "port_env": "ACCOUNT_HTTP_PORT",
    "default_port": 8080,
    "prepare": ["account-svc", "bootstrap"],
    "command": ["account-svc", "serve"],
    "urls": {
        "console": "/console",
        "management API": "/v1",
        "OpenAPI": "/openapi.json",
        "AsyncAPI": "/asyncapi.json",
        "metrics": "/metrics",
    },
}
