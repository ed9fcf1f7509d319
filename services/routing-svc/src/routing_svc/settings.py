"""routing-svc settings: defaults, then environment variables, validated at start."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from parley_runtime.addresses import Network, parse_networks
from parley_runtime.settings import PlatformSettings, renamed
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SENDERS = {
    "sms": "PARLEY",
    "rcs": "parley",
    "whatsapp": "+10000000000",
    "truecaller": "+10000000000",
}


class Settings(BaseSettings, PlatformSettings):
    """Every setting of routing-svc (see the service README for each)."""

    # populate_by_name: code and tests pass fields by name; the environment uses the aliases
    model_config = SettingsConfigDict(env_prefix="ROUTING_", extra="ignore", populate_by_name=True)

    http_host: str = "0.0.0.0"  # noqa: S104 - a service listens on every interface by default
    http_port: int = Field(default=8081, ge=1, le=65535)
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """`/metrics` only on this port (and 404 on the HTTP port); unset: on the HTTP port."""
    http_reuse_port: bool = False
    nats_url: str = Field(
        default="nats://127.0.0.1:4222", validation_alias=AliasChoices("NATS_URL")
    )
    protected_event_ttl_seconds: int = Field(default=86400, ge=1, le=30 * 86400)
    role: Literal["all", "api", "worker"] = "all"
    routes_file: Path | None = None
    handover_ttl_seconds: int = Field(default=3 * 86400, ge=3600)
    trusted_proxies: str = ""
    default_senders: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_SENDERS))
    default_dr_ttl_seconds: int = Field(default=86400, ge=1, le=30 * 86400)
    profile_cache_seconds: float = Field(default=300.0, ge=0)
    timer_grace_seconds: float = Field(default=1.0, ge=0, le=30)
    state_linger_seconds: float = Field(default=0.05, ge=0, le=1)
    message_log_ttl_seconds: int = Field(default=7 * 86400, ge=60)
    last_sender_ttl_seconds: int = Field(default=30 * 86400, ge=60)
    submit_batch: int = Field(default=256, ge=1, le=10000)
    max_in_flight: int = Field(default=10000, ge=1, le=100000)
    promotional_max_in_flight: int = Field(default=1000, ge=1, le=100000)
    promotional_accepting: int = Field(default=32, ge=0, le=100000)
    ack_wait_seconds: float = Field(default=60.0, ge=1)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    max_deliver: int = Field(default=20, ge=2, le=1000)
    account_send_rate_per_second: float = renamed(
        "ROUTING_ACCOUNT_SEND_RATE_PER_SECOND",
        "ROUTING_ACCOUNT_SEND_RATE_PER_S",
        default=10_000.0,
        ge=0,
    )
    account_send_burst: float = Field(default=20_000.0, ge=1)
    max_http_in_flight: int = Field(default=4096, ge=1)
    max_nats_in_flight: int = Field(default=4096, ge=1)
    short_url_base: str | None = Field(default=None, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
    short_link_ttl_seconds: int = Field(default=30 * 86400, ge=1)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: str) -> str:
        parse_networks(value)
        return value

    @field_validator("default_senders")
    @classmethod
    def _senders_complete(cls, value: dict[str, str]) -> dict[str, str]:
        return {**DEFAULT_SENDERS, **value}

    @property
    def short_base(self) -> str:
        """Where short links point: ROUTING_SHORT_URL_BASE, else this process's `/s`."""
        base = self.short_url_base or f"http://127.0.0.1:{self.http_port}/s"
        return base.rstrip("/")

    @property
    def trusted_networks(self) -> tuple[Network, ...]:
        """ROUTING_TRUSTED_PROXIES as networks."""
        return parse_networks(self.trusted_proxies)


RETIRED = {
    "ROUTING_PROVIDER": "each route names its provider in ROUTING_ROUTES_FILE",
    "ROUTING_REPLICAS_HINT": "route capacity is now held across replicas by leases in NATS KV",
}
"""Settings of the previous release that no longer do anything (accepted with a warning for
one release, then refused): `parley_runtime.cli.load_settings` warns about each still set."""
