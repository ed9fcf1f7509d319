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


# (form, carrying loopback or private IPv4, carrying a public IPv4 (8.8.8.8))
EMBEDDED = [
    ("nat64 127.0.0.1", "64:ff9b::7f00:1", "64:ff9b::808:808"),
    ("nat64 10.0.0.1", "64:ff9b::a00:1", "64:ff9b::808:808"),
    ("nat64 local-use 127.0.0.1", "64:ff9b:1::7f00:1", "64:ff9b:1::808:808"),
    ("6to4 127.0.0.1", "2002:7f00:1::1", "2002:808:808::1"),
    ("6to4 192.168.1.1", "2002:c0a8:101::", "2002:808:808::"),
    (
        "teredo client 127.0.0.1",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",
        "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
    ),
    (
        "teredo client 169.254.169.254",
        "2001:0:4136:e378:8000:63bf:5601:5601",
        "2001:0:4136:e378::f7f7:f7f7",
    ),
    ("teredo server 10.0.0.1", "2001:0:a00:1::f7f7:f7f7", "2001:0:4136:e378::f7f7:f7f7"),
    ("ipv4-compatible 127.0.0.1", "::127.0.0.1", "::8.8.8.8"),
    ("ipv4-compatible 10.1.2.3", "::10.1.2.3", "::8.8.8.8"),
    ("ipv4-mapped 127.0.0.1", "::ffff:127.0.0.1", "::ffff:8.8.8.8"),
]


@pytest.mark.parametrize(("form", "private", "public"), EMBEDDED, ids=[e[0] for e in EMBEDDED])
def test_ipv4_carried_in_ipv6_is_judged_as_that_ipv4(form: str, private: str, public: str) -> None:
    """NAT64, 6to4, Teredo, IPv4-compatible and -mapped addresses are unwrapped first: one
    carrying a loopback or private IPv4 is refused, one carrying a public IPv4 allowed."""
    assert not address_allowed(private, allow_private=False), form
    assert address_allowed(public, allow_private=False), form
    assert address_allowed(private, allow_private=True), form


def test_local_use_nat64_outside_its_96_form_is_refused() -> None:
    """In 64:ff9b:1::/48 the IPv4 address sits where the network's prefix length says; outside
    the /96 form that place is unknown, so the address is refused rather than guessed."""
    assert not address_allowed("64:ff9b:1:7f00:1::808:808", allow_private=False)
    assert not address_allowed("64:ff9b:1:1::808:808", allow_private=False)


@pytest.mark.parametrize("form", [e[1] for e in EMBEDDED])
async def test_ipv6_literals_carrying_private_ipv4_are_refused_without_a_request(
    form: str,
) -> None:
    """An HTTPS target written as such an IPv6 literal is refused before any connection."""
    sender = HttpSender(allow_private=False)
    outcome = await sender.send(parse_target(f"https://[{form}]:8443/h"), b"{}", {})
    assert (outcome.ok, outcome.error) == (False, REFUSED)
    assert sender._session is None


async def test_a_name_resolving_to_nat64_of_loopback_is_refused() -> None:
    """A name whose DNS64 answer carries 127.0.0.1 is refused; one carrying 8.8.8.8 is kept."""
    with pytest.raises(TargetRefused):
        await GuardedResolver(FakeResolver(["64:ff9b::7f00:1"])).resolve("evil.example", 443)
    kept = await GuardedResolver(FakeResolver(["64:ff9b::7f00:1", "64:ff9b::808:808"])).resolve(
        "hooks.example", 443
    )
    assert [r["host"] for r in kept] == ["64:ff9b::808:808"]


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
