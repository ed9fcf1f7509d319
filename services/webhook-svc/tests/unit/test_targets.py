"""Webhook targets: URL parsing, redaction and the SSRF guard (checked without network)."""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from webhook_svc.adapters.http_sender import REFUSED, GuardedResolver, HttpSender
from webhook_svc.domain.targets import address_allowed, parse_target, redact
from webhook_svc.errors import InvalidTarget, TargetRefused


class FakeResolver(AbstractResolver):
    """Answers fixed addresses for every name (no DNS traffic)."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {"hostname": host, "host": a, "port": port, "family": 0, "proto": 0, "flags": 0}
            for a in self.addresses
        ]

    async def close(self) -> None:
        return None


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 - an address under test, nothing binds to it
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
    ],
)
def test_private_and_special_addresses_are_refused(address: str) -> None:
    """Loopback, private, link-local, CGNAT, reserved and multicast addresses are refused."""
    assert not address_allowed(address, allow_private=False)
    assert address_allowed(address, allow_private=True)


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    """Global unicast addresses may be contacted."""
    assert address_allowed(address, allow_private=False)


async def test_guarded_resolver_keeps_only_allowed_addresses() -> None:
    """A name resolving to private and public addresses connects to the public ones only."""
    inner = FakeResolver(["127.0.0.1", "10.0.0.5", "169.254.169.254", "8.8.8.8"])
    results = await GuardedResolver(inner).resolve("hooks.example.com", 443)
    assert [r["host"] for r in results] == ["8.8.8.8"]


@pytest.mark.parametrize("addresses", [["127.0.0.1"], ["10.9.8.7", "169.254.1.1"], []])
async def test_guarded_resolver_refuses_names_with_no_allowed_address(
    addresses: list[str],
) -> None:
    """A name that resolves only to forbidden addresses is refused before any connection."""
    with pytest.raises(TargetRefused):
        await GuardedResolver(FakeResolver(addresses)).resolve("evil.example.com", 443)


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1/h", "https://10.0.0.1/h", "https://169.254.169.254/latest"]
)
async def test_ip_literals_are_refused_without_a_request(url: str) -> None:
    """IP literals skip aiohttp's resolver, so the sender refuses them itself, sending nothing."""
    sender = HttpSender(allow_private=False)
    outcome = await sender.send(parse_target(url), b"{}", {})
    assert not outcome.ok
    assert outcome.error == REFUSED
    assert sender._session is None  # no session was even created


async def test_http_scheme_needs_private_targets() -> None:
    """`http://` is refused unless private targets are allowed."""
    outcome = await HttpSender(allow_private=False).send(
        parse_target("http://hooks.example.com/h"), b"{}", {}
    )
    assert not outcome.ok
    assert "http://" in str(outcome.error)


def test_nats_urls_parse_with_credentials_and_jetstream() -> None:
    """A nats:// URL yields host, port, subject, credentials and the jetstream flag."""
    target = parse_target("nats://u:p%40ss@nats.example.com:4333/hooks.parley?jetstream=true")
    assert (target.host, target.port, target.subject, target.jetstream) == (
        "nats.example.com",
        4333,
        "hooks.parley",
        True,
    )
    assert (target.username, target.password) == ("u", "p%40ss")
    assert target.endpoint == "nats://nats.example.com:4333"
    assert "p%40ss" not in repr(target)


@pytest.mark.parametrize("url", ["ftp://x/y", "nats://host:4222/", "nats://h/a.*", "https:///x"])
def test_unusable_urls_are_invalid_targets(url: str) -> None:
    """URLs webhook-svc cannot deliver to raise InvalidTarget."""
    with pytest.raises(InvalidTarget):
        parse_target(url)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("nats://user:secret@h:4222/s", "nats://user:***@h:4222/s"),
        ("https://user:secret@h/p?q=1", "https://user:***@h/p?q=1"),
        ("https://h/p?email=a@b", "https://h/p?email=a@b"),
        ("https://h/p", "https://h/p"),
    ],
)
def test_redaction_hides_passwords_only(url: str, shown: str) -> None:
    """A URL's password shows as ***; the rest of the URL is left as it is."""
    assert redact(url) == shown
