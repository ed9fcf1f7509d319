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
from pydantic import AliasChoices, BaseModel, Field

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
