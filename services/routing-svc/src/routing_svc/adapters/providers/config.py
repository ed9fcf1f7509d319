"""The connection settings of each provider kind, as the routes file gives them (section 9),
with every `*_env` secret read from the environment at start.

Secrets are kept out of `repr` so a settings object can never print one into a log line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from routing_svc.domain.channels import Route


@dataclass(frozen=True)
class SmppSettings:
    """An SMPP 3.4 SMSC (the routes file's `smpp` object)."""

    host: str
    port: int
    system_id: str
    password: str = field(repr=False)
    system_type: str = ""
    binds: int = 1
    window: int = 10
    enquire_link_s: float = 30.0


@dataclass(frozen=True)
class WhatsAppCloudSettings:
    """A WhatsApp Business phone number on Meta's Cloud API (`whatsapp_cloud`)."""

    base_url: str
    api_version: str
    phone_number_id: str
    display_number: str
    token: str = field(repr=False)
    app_secret: str = field(repr=False)
    verify_token: str = field(repr=False)


@dataclass(frozen=True)
class RbmSettings:
    """An RCS Business Messaging agent on Google's RBM API (`rbm`)."""

    base_url: str
    agent_id: str
    service_account: dict[str, Any] = field(repr=False)  # the key file's JSON
    client_token: str = field(repr=False)


ProviderSettings = SmppSettings | WhatsAppCloudSettings | RbmSettings


@dataclass(frozen=True)
class RouteConfig:
    """One route and the connection that carries it (None for the sandbox)."""

    route: Route
    settings: ProviderSettings | None = None
