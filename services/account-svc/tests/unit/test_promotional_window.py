"""The promotional window of an account (beyond CONTRACT 2): shape, where it may be, errors
naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from account_svc.domain.account_config import validate_account_config
from account_testkit import error_locs

PROMO: dict[str, Any] = {
    "label": "Offers",
    "enterprise_id": "ent_1",
    "business_group_id": "bg_1",
    "communication_type": "outgoing",
    "traffic_type": "promotional",
    "channels": ["sms"],
}
WINDOW = {"start": "09:00", "end": "21:00", "timezone": "Asia/Kolkata"}


def test_a_window_is_kept_as_given() -> None:
    """A promotional account's window is stored and answered as given; without one the
    answer has no such key (accounts without a window look as before)."""
    out = validate_account_config(
        {**PROMO, "promotional_window": WINDOW}, allow_private_targets=False
    )
    assert out["promotional_window"] == WINDOW
    assert "promotional_window" not in validate_account_config(PROMO, allow_private_targets=False)


def test_a_window_may_span_midnight() -> None:
    """An end earlier than the start is a window across midnight, accepted."""
    night = {"start": "22:00", "end": "06:00", "timezone": "UTC"}
    out = validate_account_config(
        {**PROMO, "promotional_window": night}, allow_private_targets=False
    )
    assert out["promotional_window"] == night


@pytest.mark.parametrize(
    ("window", "loc"),
    [
        ({**WINDOW, "start": "9:00"}, ["promotional_window", "start"]),
        ({**WINDOW, "end": "24:00"}, ["promotional_window", "end"]),
        ({**WINDOW, "timezone": "Mars/Olympus"}, ["promotional_window", "timezone"]),
        ({**WINDOW, "end": "09:00"}, ["promotional_window", "end"]),
        ({"start": "09:00", "end": "21:00"}, ["promotional_window", "timezone"]),
        ({**WINDOW, "days": [1]}, ["promotional_window", "days"]),
    ],
)
def test_a_bad_window_names_its_field(window: dict[str, Any], loc: list[str]) -> None:
    """A malformed time, an unknown time zone, an empty window, a missing or unknown key:
    422 naming that field."""
    assert error_locs({**PROMO, "promotional_window": window}) == [loc]


@pytest.mark.parametrize("traffic_type", ["otp", "transactional"])
def test_only_promotional_accounts_take_a_window(traffic_type: str) -> None:
    """An OTP or transactional account with a window is 422 on promotional_window."""
    body = {**PROMO, "traffic_type": traffic_type, "promotional_window": WINDOW}
    assert error_locs(body) == [["promotional_window"]]
