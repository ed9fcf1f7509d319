"""webhook-svc settings: defaults, then environment variables, validated at start."""

from __future__ import annotations

from parley_shared.streams import retention_overrides
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from webhook_svc.domain.retry import parse_schedule


class Settings(BaseSettings):
    """Every setting of webhook-svc (see the service README for each)."""

    model_config = SettingsConfigDict(env_prefix="WEBHOOK_", extra="ignore")

    http_host: str = "0.0.0.0"  # noqa: S104 - a service listens on every interface by default
    http_port: int = Field(default=8082, ge=0, le=65535)
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """`/metrics` only on this port (and 404 on the HTTP port); unset: on the HTTP port."""
    nats_url: str = Field(
        default="nats://127.0.0.1:4222", validation_alias=AliasChoices("NATS_URL")
    )
    master_key: SecretStr = Field(validation_alias=AliasChoices("PARLEY_MASTER_KEY"))
    master_key_previous: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("PARLEY_MASTER_KEY_PREVIOUS")
    )
    stream_replicas: int = Field(
        default=1, ge=1, le=5, validation_alias=AliasChoices("PARLEY_STREAM_REPLICAS")
    )
    stream_retention: dict[str, float] = Field(
        default_factory=dict, validation_alias=AliasChoices("PARLEY_STREAM_RETENTION")
    )
    retry_schedule: str = "5,300,1800"
    allow_private_targets: bool = False
    batch_linger_ms: int = Field(default=50, ge=0, le=1000)
    batch_eager: bool = True
    fetch_batch: int = Field(default=500, ge=1, le=10_000)
    max_inflight: int = Field(default=10_000, ge=1)
    promotional_max_inflight: int = Field(default=1_000, ge=1)
    priority_backlog: int = Field(default=1_000, ge=0)
    max_ack_pending: int = Field(default=20_000, ge=1)
    ack_wait_s: float = Field(default=30.0, ge=1.0)
    endpoint_concurrency: int = Field(default=16, ge=1, le=1000)
    endpoint_max_pending: int = Field(default=1_000, ge=1)
    endpoint_slow_s: float = Field(default=2.0, gt=0)
    defer_s: float = Field(default=2.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    total_timeout_s: float = Field(default=15.0, gt=0)
    http_pool_size: int = Field(default=512, ge=1)
    shutdown_grace_s: float = Field(default=5.0, ge=0)
    max_deliver: int = Field(default=20, ge=1, le=1000)
    redelivery_delay_s: float = Field(default=1.0, gt=0)
    redelivery_delay_max_s: float = Field(default=60.0, gt=0, le=3600)
    park_max_per_account: int = Field(default=1_000, ge=1)
    park_max_s: float = Field(default=300.0, gt=0)
    nats_idle_s: float = Field(default=300.0, gt=0)
    nats_pool_size: int = Field(default=256, ge=1)
    log_level: str = "INFO"
    log_json: bool | None = None

    @field_validator("stream_retention", mode="before")
    @classmethod
    def _retention(cls, value: object) -> dict[str, float]:
        """Only streams that have a retention, each 1 s .. 10 years (`parley_shared.streams`)."""
        return retention_overrides(value)  # type: ignore[arg-type]

    @field_validator("retry_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @model_validator(mode="after")
    def _redelivery(self) -> Settings:
        if self.redelivery_delay_max_s < self.redelivery_delay_s:
            raise ValueError(
                "WEBHOOK_REDELIVERY_DELAY_MAX_S must be at least WEBHOOK_REDELIVERY_DELAY_S"
            )
        return self

    @property
    def retry_delays(self) -> tuple[float, ...]:
        """WEBHOOK_RETRY_SCHEDULE as seconds before retry 1, 2, 3, ..."""
        return parse_schedule(self.retry_schedule)
