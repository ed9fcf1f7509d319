"""Settings that changed name or retired, kept working for one release with a warning.

A renamed environment variable is declared with `renamed(new, old)`: the field reads `new`,
else `old`; `warn_renamed` logs `setting_renamed` at start for each old name still set, so an
operator sees what to change before the release that drops it. A setting that no longer does
anything is listed by the service and reported by `warn_retired` the same way.

Naming (docs/operations.md, "Settings"): a duration ends in `_SECONDS` (fractions allowed),
except the few counted in milliseconds (`_MS`); a rate ends in `_PER_SECOND` or `_PER_MINUTE`;
a cap on work in hand is `MAX_..._IN_FLIGHT`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import structlog
from parley_shared.streams import retention_overrides
from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator

log = structlog.get_logger("parley_runtime.settings")

RENAMED_FROM = "renamed_from"


def renamed(new: str, old: str, **field: Any) -> Any:
    """A settings field read from the environment variable `new`, or (for one release, when
    `new` is unset) from `old`; `field` as for pydantic's `Field` (default, bounds, ...)."""
    return Field(
        validation_alias=AliasChoices(new, old),
        json_schema_extra={RENAMED_FROM: old},
        **field,
    )


def renames(settings: type[BaseModel]) -> dict[str, str]:
    """Old name -> new name of every field of `settings` declared with `renamed`."""
    found: dict[str, str] = {}
    for info in settings.model_fields.values():
        extra = info.json_schema_extra
        alias = info.validation_alias
        if isinstance(extra, dict) and RENAMED_FROM in extra and isinstance(alias, AliasChoices):
            found[str(extra[RENAMED_FROM])] = str(alias.choices[0])
    return found


def warn_renamed(settings: type[BaseModel], environ: Mapping[str, str] | None = None) -> list[str]:
    """Log `setting_renamed` for each old name set in the environment; the old names found.

    When both names are set the new one wins and the warning says the old one is ignored.
    """
    env = os.environ if environ is None else environ
    found = []
    for old, new in renames(settings).items():
        if old in env:
            found.append(old)
            log.warning("setting_renamed", setting=old, instead=new, ignored=new in env)
    return found


def warn_retired(retired: Mapping[str, str], environ: Mapping[str, str] | None = None) -> list[str]:
    """Log `setting_retired` (with what replaced it) for each retired setting still set; the
    names found."""
    env = os.environ if environ is None else environ
    found = [name for name in retired if name in env]
    for name in found:
        log.warning("setting_retired", setting=name, instead=retired[name])
    return found


class PlatformSettings(BaseModel):
    """The settings every Parley service reads under the same names (`PARLEY_*`) and the same
    rules, declared once: each service's `Settings(BaseSettings, PlatformSettings)` adds its own
    under its prefix (`log_level` and `log_json` take that prefix: `WEBHOOK_LOG_LEVEL`, ...)."""

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
    log_level: str = "INFO"
    log_json: bool | None = None

    @field_validator("stream_retention", mode="before")
    @classmethod
    def _retention(cls, value: object) -> dict[str, float]:
        """Only streams that have a retention, each 1 s .. 10 years (`parley_shared.streams`)."""
        return retention_overrides(value)  # type: ignore[arg-type]
