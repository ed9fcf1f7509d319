"""docs/operations.md documents every setting of every service (read from each Settings class),
so a setting added to a service without a line in the operations guide fails here."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from pydantic import AliasChoices

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
SETTINGS = {
    "account-svc": "account_svc.settings",
    "routing-svc": "routing_svc.settings",
    "webhook-svc": "webhook_svc.settings",
}


def environment_names(module_name: str) -> list[str]:
    """The environment variable of each field of the module's `Settings` class."""
    settings = importlib.import_module(module_name).Settings
    prefix = settings.model_config.get("env_prefix", "")
    names = []
    for name, info in settings.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names.append(str(alias.choices[0]))
        elif isinstance(alias, str):
            names.append(alias)
        else:
            names.append(f"{prefix}{name}".upper())
    return names


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_every_setting_is_documented(service: str) -> None:
    """Each environment variable the service reads appears, in backticks, in docs/operations.md."""
    doc = DOC.read_text()
    missing = [name for name in environment_names(SETTINGS[service]) if f"`{name}`" not in doc]
    assert not missing, f"{service} settings missing from docs/operations.md: {missing}"
