"""What a test may pass to a service's `Settings`: its field names and their environment
aliases. The services' settings ignore unknown names (`extra="ignore"`, so an environment
full of other variables starts them), which would also swallow a misspelt or renamed
override in a test: the test kits check overrides against this set first."""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel


def known_settings(settings: type[BaseModel]) -> set[str]:
    """Every field name of `settings` and every environment alias of its fields."""
    names = set(settings.model_fields)
    for info in settings.model_fields.values():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        elif isinstance(alias, str):
            names.add(alias)
    return names
