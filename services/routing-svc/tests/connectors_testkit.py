"""Helpers for the connector tests: a routes file naming the fakes (with a sandbox SMS route for
fallbacks), the callback URL of a route, `/metrics` samples and the `apps` block."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from parley_devtools.fakes.graph_api import GraphApi
from parley_devtools.fakes.rbm_api import RbmApi
from routing_testkit import Routing

WA_ROUTE = "wa-cloud-1"
RBM_ROUTE = "rcs-rbm-airtel"


def routes_file(
    path: Path, graph: GraphApi | None = None, rbm: RbmApi | None = None, *, key_file: str = ""
) -> Path:
    """A routes file with a WhatsApp route on `graph`, an RBM route on `rbm` (its key file at
    `key_file`) and the sandbox's `sms-1`; secrets in the variables `routes_env` names."""
    routes: list[dict[str, Any]] = [{"name": "sms-1", "channel": "sms", "capacity_per_s": 500}]
    if graph is not None:
        routes.append(
            {
                "name": WA_ROUTE,
                "channel": "whatsapp",
                "capacity_per_s": 200,
                "provider": "whatsapp_cloud",
                "whatsapp_cloud": {
                    "base_url": graph.base_url,
                    "api_version": graph.api_version,
                    "phone_number_id": graph.phone_number_id,
                    "display_number": graph.display_number,
                    "token_env": "TEST_WA_TOKEN",
                    "app_secret_env": "TEST_WA_APP_SECRET",
                    "verify_token_env": "TEST_WA_VERIFY_TOKEN",
                },
            }
        )
    if rbm is not None:
        routes.append(
            {
                "name": RBM_ROUTE,
                "channel": "rcs",
                "capacity_per_s": 200,
                "provider": "rbm",
                "agent_provider": "airtel",
                "rbm": {
                    "base_url": rbm.base_url,
                    "agent_id": rbm.agent_id,
                    "service_account_file_env": "TEST_RBM_SA_FILE",
                    "client_token_env": "TEST_RBM_CLIENT_TOKEN",
                },
            }
        )
    path.write_bytes(orjson.dumps({"routes": routes}))
    return path


def routes_env(
    graph: GraphApi | None = None, rbm: RbmApi | None = None, key_file: str = ""
) -> dict[str, str]:
    """The environment variables `routes_file` names."""
    env: dict[str, str] = {}
    if graph is not None:
        env |= {
            "TEST_WA_TOKEN": graph.token,
            "TEST_WA_APP_SECRET": graph.app_secret,
            "TEST_WA_VERIFY_TOKEN": graph.verify_token,
        }
    if rbm is not None:
        env |= {"TEST_RBM_SA_FILE": key_file, "TEST_RBM_CLIENT_TOKEN": rbm.client_token}
    return env


def callback_url(routing: Routing, route: str) -> str:
    """routing-svc's callback URL of `route`."""
    return f"{routing.api.base}/v1/callbacks/{route}"


async def metric(routing: Routing, name: str, **labels: str) -> float:
    """The value of one `/metrics` sample (0 when absent)."""
    async with routing.api.session.get(routing.api.base + "/metrics") as resp:
        text = await resp.text()
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(name + "{"):
            inner = line[len(name) + 1 : line.index("}")]
            if ",".join(sorted(inner.split(","))) == wanted:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def apps(**on: bool) -> dict[str, Any]:
    """An `apps` block with the named apps switched on."""
    names = ("template_lookup", "url_shortener", "campaign_manager", "digital_asset_manager")
    return {name: on.get(name, False) for name in names}
