"""Event filters of CONTRACT 4: which status events a webhook's `events` select."""

from __future__ import annotations

import pytest
from parley_shared.accounts import OpenedSecrets
from webhook_svc.domain.filters import status_wanted, wanted
from webhook_svc.domain.webhooks import webhook_of

SENT = "parley.message.sent"
DELIVERED = "parley.message.delivered"
READ = "parley.message.read"
FAILED = "parley.message.failed"
FALLBACK = "parley.message.fallback"
TYPING = "parley.message.typing"
CLICKED = "parley.message.clicked"
INBOUND = "parley.inbound.message"
ALL = (SENT, DELIVERED, READ, FAILED, FALLBACK, TYPING, CLICKED, INBOUND)


@pytest.mark.parametrize(
    ("events", "intermediate", "selected"),
    [
        (["delivery_status"], False, {DELIVERED, FAILED, CLICKED}),
        (["delivery_status"], True, {DELIVERED, FAILED, FALLBACK, CLICKED}),
        (["sent"], True, {SENT}),
        (["read"], False, {READ}),
        (["typing"], False, {TYPING}),
        (["sent", "read"], True, {SENT, READ}),
        (["delivery_status", "sent", "read", "typing"], True, set(ALL) - {INBOUND}),
    ],
)
def test_status_filters_select_exactly_their_types(
    events: list[str], intermediate: bool, selected: set[str]
) -> None:
    """Each filter combination selects exactly the event types the contract assigns it."""
    got = {t for t in ALL if status_wanted(frozenset(events), intermediate, t)}
    assert got == selected


def test_user_initiated_takes_only_inbound_messages() -> None:
    """The user_initiated webhook takes inbound messages and no status event."""
    hook = webhook_of("acc_1", 1, "user_initiated", {"url": "https://x.example/h"}, OpenedSecrets())
    assert [t for t in ALL if wanted(hook, t)] == [INBOUND]


def test_status_webhook_never_takes_inbound_messages() -> None:
    """Inbound messages never go to the status webhook, whatever its filters."""
    config = {"url": "https://x.example/h", "events": ["delivery_status", "sent", "read", "typing"]}
    hook = webhook_of("acc_1", 1, "status", config, OpenedSecrets())
    assert not wanted(hook, INBOUND)
