"""account-svc settings: defaults, then environment variables, validated at start."""

from __future__ import annotations

from pathlib import Path

from parley_runtime.addresses import Network, parse_networks
from parley_runtime.settings import PlatformSettings
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings, PlatformSettings):
    """Every setting of account-svc (each is described in docs/operations.md, 2.2)."""

    model_config = SettingsConfigDict(env_prefix="ACCOUNT_", extra="ignore")

    http_host: str = "0.0.0.0"  # noqa: S104 - a service listens on every interface by default
    http_port: int = Field(default=8080, ge=1, le=65535)
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """`/metrics` only on this port (and 404 on the HTTP port); unset: on the HTTP port."""
    nats_url: str = Field(
        default="nats://127.0.0.1:4222", validation_alias=AliasChoices("NATS_URL")
    )
    database_url: SecretStr = Field(validation_alias=AliasChoices("DATABASE_URL"))
    bootstrap_admin_username: str = "admin"
    bootstrap_admin_password: SecretStr | None = None
    token_ttl_seconds: int = Field(default=12 * 3600, ge=60)
    allow_private_targets: bool = Field(
        default=False, validation_alias=AliasChoices("WEBHOOK_ALLOW_PRIVATE_TARGETS")
    )
    nats_authority_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("ACCOUNT_NATS_AUTHORITY_FILE")
    )
    outbox_relay_enabled: bool = True
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    db_pool_max: int = Field(default=10, ge=1)
    # Login hardening (README "Login limits").
    password_hash_memory_mib: int = Field(default=64, ge=19, le=65536)
    password_hash_wait_seconds: float = Field(default=2.0, ge=0, le=60)
    password_hash_queue: int = Field(default=16, ge=0, le=10000)
    login_rate_per_minute: float = Field(default=30.0, gt=0)
    login_rate_burst: int = Field(default=10, ge=1)
    trusted_proxies: str = ""
    purge_interval_seconds: float = Field(default=300.0, ge=1)
    purge_batch: int = Field(default=1000, ge=1, le=100000)
    # The console's operator views (README "Console").
    traffic_idle_seconds: float = Field(default=900.0, ge=10)
    traffic_replay_max: int = Field(default=500_000, ge=0)
    traffic_max_keys: int = Field(default=2000, ge=10, le=1_000_000)
    routes_gather_seconds: float = Field(default=0.25, gt=0, le=5)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: str) -> str:
        parse_networks(value)
        return value

    @property
    def trusted_networks(self) -> tuple[Network, ...]:
        """ACCOUNT_TRUSTED_PROXIES as networks."""
        return parse_networks(self.trusted_proxies)
