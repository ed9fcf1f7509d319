"""account-svc settings: defaults, then environment variables, validated at start."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of account-svc (see the service README for each)."""

    model_config = SettingsConfigDict(env_prefix="ACCOUNT_", extra="ignore")

    http_host: str = "0.0.0.0"  # noqa: S104 - a service listens on every interface by default
    http_port: int = Field(default=8080, ge=1, le=65535)
    nats_url: str = Field(
        default="nats://127.0.0.1:4222", validation_alias=AliasChoices("NATS_URL")
    )
    database_url: SecretStr = Field(validation_alias=AliasChoices("DATABASE_URL"))
    master_key: SecretStr = Field(validation_alias=AliasChoices("PARLEY_MASTER_KEY"))
    master_key_previous: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("PARLEY_MASTER_KEY_PREVIOUS")
    )
    bootstrap_admin_username: str = "admin"
    bootstrap_admin_password: SecretStr | None = None
    token_ttl_seconds: int = Field(default=12 * 3600, ge=60)
    allow_private_targets: bool = Field(
        default=False, validation_alias=AliasChoices("WEBHOOK_ALLOW_PRIVATE_TARGETS")
    )
    stream_replicas: int = Field(
        default=1, ge=1, le=5, validation_alias=AliasChoices("PARLEY_STREAM_REPLICAS")
    )
    nats_authority_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("ACCOUNT_NATS_AUTHORITY_FILE")
    )
    outbox_relay_enabled: bool = True
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    db_pool_max: int = Field(default=10, ge=1)
    log_level: str = "INFO"
    log_json: bool | None = None
