"""How `make chaos` and `make bench` run the platform: `options` (a sandbox route whose capacity
does not bind, short ack waits and webhook retries, quiet logs), and `smpp_options`, the same
with SMS carried over SMPP to a `parley_devtools.smsc.Smsc` simulator, which answers every
submit at once and sends a receipt for it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from parley_devtools.platform import LOOPBACK_HOSTS, QUICK, Options
from parley_devtools.smsc import Smsc

ROUTE = "sms-smsc"
PASSWORD_ENV = "PARLEY_SMSC_PASSWORD"  # noqa: S105 - the name of a variable
ROUTES = {"routes": [{"name": "sms-1", "channel": "sms", "capacity_per_s": 1_000_000}]}


def options(
    retry_schedule: str = "1,2,4",
    *,
    cluster: bool = False,
    routes: dict[str, Any] | None = None,
    settings: Mapping[str, str] | None = None,
) -> Options:
    """Platform options of a chaos or benchmark run (`settings`: more environment)."""
    return Options(
        cluster=cluster,
        routes=routes or ROUTES,
        settings={
            **LOOPBACK_HOSTS,
            **QUICK,
            "ACCOUNT_LOG_LEVEL": "WARNING",
            "ROUTING_ACK_WAIT_SECONDS": "5",
            "ROUTING_LOG_LEVEL": "WARNING",
            "WEBHOOK_ACK_WAIT_SECONDS": "5",
            "WEBHOOK_RETRY_SCHEDULE": retry_schedule,
            "WEBHOOK_LOG_LEVEL": "WARNING",
            **(settings or {}),
        },
    )


def smpp_routes(smsc: Smsc, *, capacity: float = 1_000_000, window: int = 10) -> dict[str, Any]:
    """A routes file with one SMPP route (one bind) at the simulator."""
    return {
        "routes": [
            {
                "name": ROUTE,
                "channel": "sms",
                "capacity_per_s": capacity,
                "provider": "smpp",
                "smpp": {
                    "host": smsc.host,
                    "port": smsc.port,
                    "system_id": smsc.system_id,
                    "password_env": PASSWORD_ENV,
                    "binds": 1,
                    "window": window,
                },
            }
        ]
    }


def smpp_options(smsc: Smsc, retry_schedule: str = "1,2,4") -> Options:
    """Platform options whose routing-svc carries SMS over SMPP to `smsc`."""
    settings = {PASSWORD_ENV: smsc.password}
    return options(retry_schedule, routes=smpp_routes(smsc), settings=settings)
