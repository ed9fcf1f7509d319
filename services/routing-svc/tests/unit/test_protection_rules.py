"""Pure rules of data protection: which events are kept only for a while, and message ids that
carry their account's tag (the message log's purge key)."""

from __future__ import annotations

import re

import pytest
from parley_shared.ids import new_id
from routing_svc.domain.message_ids import (
    account_prefix,
    account_tag,
    legacy_key,
    log_key,
    new_message_id,
    tag_of,
)
from routing_svc.domain.vault import kept_briefly


@pytest.mark.parametrize(
    ("protection", "full_number", "content", "expected"),
    [
        ("store", True, True, False),
        ("encrypt_and_store", True, False, True),
        ("encrypt_and_store", False, True, True),
        ("encrypt_and_store", False, False, False),
        ("do_not_store", True, False, False),
        ("do_not_store", False, True, True),
        ("unknown", False, True, True),
    ],
)
def test_which_events_are_kept_briefly(
    protection: str, full_number: bool, content: bool, expected: bool
) -> None:
    """store keeps every event; encrypt_and_store limits those with a full number or a text;
    do_not_store (numbers already masked) those with a text; unknown counts as strictest."""
    assert kept_briefly(protection, full_number=full_number, content=content) is expected


def test_message_ids_carry_the_accounts_tag() -> None:
    """A message id is msg_ + 26 base32 characters, time first, with the account's 6-character
    tag in positions 10..16, and its log key puts the tag in front."""
    message_id = new_message_id("acc_01", 1_700_000_000_000, 12345)
    assert re.fullmatch(r"msg_[0-9a-hjkmnp-tv-z]{26}", message_id)
    assert tag_of(message_id) == account_tag("acc_01")
    assert log_key(message_id) == f"{account_tag('acc_01')}.{message_id}"
    assert account_prefix("acc_01") == f"{account_tag('acc_01')}.*"
    later = new_message_id("acc_01", 1_700_000_000_001, 0)
    assert later > message_id


def test_tags_differ_between_accounts_and_ids_between_messages() -> None:
    """Two accounts (almost always) have different tags; two ids of one account differ."""
    assert account_tag("acc_01") != account_tag("acc_02")
    ids = {new_message_id("acc_01", 5, bits) for bits in range(1000)}
    assert len(ids) == 1000
    assert new_message_id("acc_01", 5, 7) == new_message_id("acc_01", 5, 7)  # no hidden input


def test_legacy_and_malformed_ids_keep_their_own_key() -> None:
    """An id that is not msg_ + 26 characters is its own key; a legacy id's legacy key is
    itself."""
    assert log_key("msg_none") == "msg_none"
    old = new_id("msg")
    assert legacy_key(old) == old
    assert log_key(old).endswith("." + old)
