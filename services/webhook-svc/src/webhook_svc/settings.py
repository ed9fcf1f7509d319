"""webhook-svc settings: defaults, then environment variables, validated at start."""

from __future__ import annotations

from parley_runtime.settings import PlatformSettings, renamed
from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from webhook_svc.domain.retry import parse_schedule


class Settings(BaseSettings, PlatformSettings):
    """Every setting of webhook-svc (docs/operations.md describes each).

    Renamed in this release to the house scheme (`_SECONDS`, `MAX_IN_FLIGHT`); the old names
    (`WEBHOOK_ACK_WAIT_S`, `WEBHOOK_MAX_INFLIGHT`, ...) still work until the next one, with a
    `setting_renamed` warning at start (`parley_runtime.settings`)."""

    # populate_by_name: code and tests pass fields by name; the environment uses the aliases
    model_config = SettingsConfigDict(env_prefix="WEBHOOK_", extra="ignore", populate_by_name=True)

    http_host: str = "0.0.0.0"  # noqa: S104 - a service listens on every interface by default
    http_port: int = Field(default=8082, ge=0, le=65535)
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """`/metrics` only on this port (and 404 on the HTTP port); unset: on the HTTP port."""
    nats_url: str = Field(
        default="nats://127.0.0.1:4222", validation_alias=AliasChoices("NATS_URL")
    )
    retry_schedule: str = "5,300,1800"
    allow_private_targets: bool = False
    batch_linger_ms: int = Field(default=50, ge=0, le=1000)
    batch_eager: bool = True
    fetch_batch: int = Field(default=500, ge=1, le=10_000)
    max_in_flight: int = renamed(
        "WEBHOOK_MAX_IN_FLIGHT", "WEBHOOK_MAX_INFLIGHT", default=10_000, ge=1
    )
    promotional_max_in_flight: int = renamed(
        "WEBHOOK_PROMOTIONAL_MAX_IN_FLIGHT", "WEBHOOK_PROMOTIONAL_MAX_INFLIGHT", default=1_000, ge=1
    )
    priority_backlog: int = Field(default=1_000, ge=0)
    max_ack_pending: int = Field(default=20_000, ge=1)
    ack_wait_seconds: float = renamed(
        "WEBHOOK_ACK_WAIT_SECONDS", "WEBHOOK_ACK_WAIT_S", default=30.0, ge=1.0
    )
    endpoint_concurrency: int = Field(default=16, ge=1, le=1000)
    endpoint_max_pending: int = Field(default=1_000, ge=1)
    endpoint_slow_seconds: float = renamed(
        "WEBHOOK_ENDPOINT_SLOW_SECONDS", "WEBHOOK_ENDPOINT_SLOW_S", default=2.0, gt=0
    )
    defer_seconds: float = renamed("WEBHOOK_DEFER_SECONDS", "WEBHOOK_DEFER_S", default=2.0, gt=0)
    connect_timeout_seconds: float = renamed(
        "WEBHOOK_CONNECT_TIMEOUT_SECONDS", "WEBHOOK_CONNECT_TIMEOUT_S", default=5.0, gt=0
    )
    total_timeout_seconds: float = renamed(
        "WEBHOOK_TOTAL_TIMEOUT_SECONDS", "WEBHOOK_TOTAL_TIMEOUT_S", default=15.0, gt=0
    )
    http_pool_size: int = Field(default=512, ge=1)
    shutdown_grace_seconds: float = renamed(
        "WEBHOOK_SHUTDOWN_GRACE_SECONDS", "WEBHOOK_SHUTDOWN_GRACE_S", default=5.0, ge=0
    )
    max_deliver: int = Field(default=20, ge=1, le=1000)
    redelivery_delay_seconds: float = renamed(
        "WEBHOOK_REDELIVERY_DELAY_SECONDS", "WEBHOOK_REDELIVERY_DELAY_S", default=1.0, gt=0
    )
    redelivery_delay_max_seconds: float = renamed(
        "WEBHOOK_REDELIVERY_DELAY_MAX_SECONDS",
        "WEBHOOK_REDELIVERY_DELAY_MAX_S",
        default=60.0,
        gt=0,
        le=3600,
    )
    park_max_per_account: int = Field(default=1_000, ge=1)
    park_max_seconds: float = renamed(
        "WEBHOOK_PARK_MAX_SECONDS", "WEBHOOK_PARK_MAX_S", default=300.0, gt=0
    )
    nats_idle_seconds: float = renamed(
        "WEBHOOK_NATS_IDLE_SECONDS", "WEBHOOK_NATS_IDLE_S", default=300.0, gt=0
    )
    nats_pool_size: int = Field(default=256, ge=1)

    @field_validator("retry_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @model_validator(mode="after")
    def _redelivery(self) -> Settings:
        if self.redelivery_delay_max_seconds < self.redelivery_delay_seconds:
            raise ValueError(
                "WEBHOOK_REDELIVERY_DELAY_MAX_SECONDS must be at least "
                "WEBHOOK_REDELIVERY_DELAY_SECONDS"
            )
        return self

    @property
    def retry_delays(self) -> tuple[float, ...]:
        """WEBHOOK_RETRY_SCHEDULE as seconds before retry 1, 2, 3, ..."""
        return parse_schedule(self.retry_schedule)
