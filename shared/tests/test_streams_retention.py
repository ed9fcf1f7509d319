"""Retention as a setting per stream (`PARLEY_STREAM_RETENTION`): checked, applied, defaults."""

from __future__ import annotations

import pytest
from parley_shared.streams import (
    InvalidRetention,
    default_retention,
    load_definitions,
    retention_overrides,
    to_stream_config,
)


def test_defaults_are_those_of_the_definitions() -> None:
    """Every time-bounded stream has a documented default; STATUS and INBOUND keep 7 days."""
    defaults = default_retention()
    assert defaults["STATUS"] == defaults["INBOUND"] == 604800
    assert defaults["WEBHOOK_DEAD_LETTERS"] == 2592000
    assert "SUBMIT" not in defaults


def test_an_override_replaces_max_age_of_that_stream_only() -> None:
    """A JSON override changes the named streams' max_age and nothing else."""
    ages = retention_overrides('{"STATUS": 3600, "WEBHOOK_DEAD_LETTERS": 86400}')
    defs = {d["name"]: d for d in load_definitions(1, ages)}
    assert defs["STATUS"]["max_age"] == 3600
    assert defs["WEBHOOK_DEAD_LETTERS"]["max_age"] == 86400
    assert defs["INBOUND"]["max_age"] == 604800
    assert to_stream_config(defs["STATUS"]).max_age == 3600


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"SUBMIT": 60}', "takes no retention"),
        ('{"STATUS": 0}', "1.."),
        ('{"STATUS": "1d"}', "number of seconds"),
        ('{"WEBHOOK_RETRY": 3600}', "at least"),
        ("[1]", "JSON object"),
        ("{", "JSON object"),
    ],
)
def test_a_bad_override_is_refused_naming_why(value: str, message: str) -> None:
    """A stream without retention, a bad duration, or shrinking WEBHOOK_RETRY is refused."""
    with pytest.raises(InvalidRetention, match=message):
        retention_overrides(value)


def test_status_and_inbound_take_per_message_ttls() -> None:
    """The account's own event streams allow Nats-TTL (events of protected accounts)."""
    defs = {d["name"]: to_stream_config(d) for d in load_definitions(1)}
    assert defs["STATUS"].allow_msg_ttl is True
    assert defs["INBOUND"].allow_msg_ttl is True
