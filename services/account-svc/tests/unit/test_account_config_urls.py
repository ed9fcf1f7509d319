"""Webhook URL secrets: how answers show a URL's password (CONTRACT section 8)."""

from __future__ import annotations

import pytest
from account_svc.domain.account_config import redact_url, url_has_credentials


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("nats://user:pass@h:4222/subj", "nats://user:***@h:4222/subj"),
        ("nats://user:p@ss@h:4222/a.b?jetstream=true", "nats://user:***@h:4222/a.b?jetstream=true"),
        ("https://bob:s3cret@hooks.example.com/x?y=1", "https://bob:***@hooks.example.com/x?y=1"),
        ("nats://h:4222/subj", "nats://h:4222/subj"),
        ("nats://token@h:4222/subj", "nats://token@h:4222/subj"),
        ("https://hooks.example.com/a@b", "https://hooks.example.com/a@b"),
        ("nats://user:***@h:4222/subj", "nats://user:***@h:4222/subj"),
        ("not a url", "not a url"),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    """redact_url hides only the password of the authority and leaves everything else as is."""
    assert redact_url(url) == redacted


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nats://user:pass@h:4222/subj", True),
        ("nats://token@h/subj", True),
        ("https://hooks.example.com/path@x", False),
        ("nats://h:4222/subj", False),
        ("", False),
    ],
)
def test_url_has_credentials(url: str, expected: bool) -> None:
    """url_has_credentials sees a user or user:password before the host, not an @ in the path."""
    assert url_has_credentials(url) is expected
