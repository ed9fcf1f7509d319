"""Renamed and retired settings: the old name keeps working for one release, with a warning."""

from __future__ import annotations

import pytest
import structlog
from parley_runtime.settings import renamed, renames, warn_renamed, warn_retired
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class Toy(BaseSettings):
    """A service's settings with one renamed variable."""

    model_config = SettingsConfigDict(env_prefix="TOY_", extra="ignore", populate_by_name=True)

    wait_seconds: float = renamed("TOY_WAIT_SECONDS", "TOY_WAIT_S", default=1.0, gt=0)
    depth: int = 3


def test_the_old_name_is_read_when_the_new_one_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """TOY_WAIT_S still sets `wait_seconds`, validated like the new name."""
    monkeypatch.setenv("TOY_WAIT_S", "2.5")
    assert Toy().wait_seconds == 2.5
    monkeypatch.setenv("TOY_WAIT_S", "-1")
    with pytest.raises(ValidationError):
        Toy()


def test_the_new_name_wins_over_the_old(monkeypatch: pytest.MonkeyPatch) -> None:
    """With both set the new name's value is used; a keyword argument beats both."""
    monkeypatch.setenv("TOY_WAIT_S", "2.5")
    monkeypatch.setenv("TOY_WAIT_SECONDS", "4")
    assert Toy().wait_seconds == 4
    assert Toy(wait_seconds=7).wait_seconds == 7


def test_renames_lists_only_renamed_fields() -> None:
    """Old name -> new name, for the fields declared with `renamed` and no other."""
    assert renames(Toy) == {"TOY_WAIT_S": "TOY_WAIT_SECONDS"}


def test_an_old_name_still_set_is_warned_about_once() -> None:
    """`setting_renamed` names the old and the new variable, and whether the old is ignored;
    nothing is logged when only the new name is set."""
    with structlog.testing.capture_logs() as logs:
        assert warn_renamed(Toy, {"TOY_WAIT_S": "2"}) == ["TOY_WAIT_S"]
        assert warn_renamed(Toy, {"TOY_WAIT_SECONDS": "2"}) == []
        warn_renamed(Toy, {"TOY_WAIT_S": "2", "TOY_WAIT_SECONDS": "3"})
    assert [(e["event"], e["setting"], e["instead"], e["ignored"]) for e in logs] == [
        ("setting_renamed", "TOY_WAIT_S", "TOY_WAIT_SECONDS", False),
        ("setting_renamed", "TOY_WAIT_S", "TOY_WAIT_SECONDS", True),
    ]
    assert all(e["log_level"] == "warning" for e in logs)


def test_a_retired_setting_still_set_is_warned_about() -> None:
    """`setting_retired` names the setting and what replaced it."""
    retired = {"TOY_OLD": "use the routes file"}
    with structlog.testing.capture_logs() as logs:
        assert warn_retired(retired, {"TOY_OLD": "x", "TOY_DEPTH": "1"}) == ["TOY_OLD"]
    assert [(e["event"], e["setting"], e["instead"]) for e in logs] == [
        ("setting_retired", "TOY_OLD", "use the routes file")
    ]
