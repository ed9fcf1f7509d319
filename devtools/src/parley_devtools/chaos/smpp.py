"""The platform with an SMPP route at the SMSC simulator (for the SMPP chaos scenario and the
SMPP end-to-end benchmark): routing-svc binds to a `parley_devtools.smsc.Smsc` running in this
process, which answers every submit at once and sends a receipt for it."""

from __future__ import annotations

from typing import Any

from parley_devtools.chaos.platform import Options
from parley_devtools.smsc import Smsc

ROUTE = "sms-smsc"
PASSWORD_ENV = "PARLEY_SMSC_PASSWORD"  # noqa: S105 - the name of a variable


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


def smpp_options(smsc: Smsc, **options: Any) -> Options:
    """Platform options whose routing-svc carries SMS over SMPP to `smsc`."""
    extra = {PASSWORD_ENV: smsc.password, **options.pop("extra_env", {})}
    return Options(routes=smpp_routes(smsc), extra_env=extra, **options)
