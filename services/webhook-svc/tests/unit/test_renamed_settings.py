"""Settings renamed to the house scheme keep working under their old names for one release,
with a warning naming the new one; the new name wins when both are set."""

from __future__ import annotations

import base64

import pytest
from parley_runtime.settings import warn_renamed
from routing_svc.settings import Settings as RoutingSettings
from webhook_svc.settings import Settings

KEY = base64.b64encode(bytes(32)).decode()


def test_an_old_webhook_name_still_sets_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """`WEBHOOK_ACK_WAIT_S` and `WEBHOOK_MAX_INFLIGHT` still set their settings, and each is
    reported as renamed."""
    monkeypatch.setenv("PARLEY_MASTER_KEY", KEY)
    monkeypatch.setenv("WEBHOOK_ACK_WAIT_S", "7")
    monkeypatch.setenv("WEBHOOK_MAX_INFLIGHT", "123")
    settings = Settings()
    assert settings.ack_wait_seconds == 7
    assert settings.max_in_flight == 123
    found = warn_renamed(Settings)
    assert sorted(found) == ["WEBHOOK_ACK_WAIT_S", "WEBHOOK_MAX_INFLIGHT"]


def test_the_new_name_wins_over_the_old(monkeypatch: pytest.MonkeyPatch) -> None:
    """With both names set, the `_SECONDS` one is read."""
    monkeypatch.setenv("PARLEY_MASTER_KEY", KEY)
    monkeypatch.setenv("WEBHOOK_ACK_WAIT_S", "7")
    monkeypatch.setenv("WEBHOOK_ACK_WAIT_SECONDS", "9")
    assert Settings().ack_wait_seconds == 9


def test_an_invalid_old_name_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad value under the old name stops the service as a bad new one would."""
    monkeypatch.setenv("PARLEY_MASTER_KEY", KEY)
    monkeypatch.setenv("WEBHOOK_ACK_WAIT_S", "0.1")
    with pytest.raises(ValueError, match="WEBHOOK_ACK_WAIT_S"):
        Settings()


def test_routing_keeps_its_old_rate_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ROUTING_ACCOUNT_SEND_RATE_PER_S` still sets the per-account send rate."""
    monkeypatch.setenv("PARLEY_MASTER_KEY", KEY)
    monkeypatch.setenv("ROUTING_ACCOUNT_SEND_RATE_PER_S", "55")
    assert RoutingSettings().account_send_rate_per_second == 55
    assert warn_renamed(RoutingSettings, {"ROUTING_ACCOUNT_SEND_RATE_PER_S": "55"}) == [
        "ROUTING_ACCOUNT_SEND_RATE_PER_S"
    ]
