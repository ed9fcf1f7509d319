"""Who the client is: the peer, or behind trusted proxies the right-to-left X-Forwarded-For walk."""

from __future__ import annotations

import ipaddress

import pytest
from parley_runtime.addresses import client_address, parse_networks

PROXIES = parse_networks("10.0.0.0/8, 127.0.0.1 fd00::/8")


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    """A peer outside the trusted proxies is never second-guessed by its header."""
    assert client_address("203.0.113.9", ["198.51.100.1"], PROXIES) == ip("203.0.113.9")


def test_the_walk_skips_trusted_hops_from_the_right() -> None:
    """Behind two trusted proxies the client is the first untrusted address from the right;
    what the client wrote further left is ignored."""
    got = client_address("10.0.0.2", ["6.6.6.6, 198.51.100.4, 10.0.0.1"], PROXIES)
    assert got == ip("198.51.100.4")


def test_every_header_line_is_one_list() -> None:
    """Several X-Forwarded-For lines are joined in order before the walk (RFC 9110 5.3)."""
    lines = ["6.6.6.6", "198.51.100.4, 10.0.0.1"]
    assert client_address("127.0.0.1", lines, PROXIES) == ip("198.51.100.4")
    assert client_address("127.0.0.1", ["198.51.100.4", "10.0.0.9"], PROXIES) == ip("198.51.100.4")


def test_a_hop_that_is_no_address_stops_the_walk_at_the_last_trusted_hop() -> None:
    """Garbage right of the client means the proxies did not forward properly: the last trusted
    hop is taken, never anything further left."""
    assert client_address("127.0.0.1", ["6.6.6.6, junk, 10.0.0.1"], PROXIES) == ip("10.0.0.1")
    assert client_address("127.0.0.1", ["junk"], PROXIES) == ip("127.0.0.1")


def test_only_trusted_hops_give_the_leftmost() -> None:
    """When every hop is a trusted proxy, the leftmost is the client."""
    assert client_address("127.0.0.1", ["10.1.1.1, 10.0.0.1"], PROXIES) == ip("10.1.1.1")


def test_ipv4_mapped_and_bracketed_addresses_are_unwrapped() -> None:
    """`::ffff:a.b.c.d` counts as IPv4 and `[v6]` as the v6 address inside."""
    assert client_address("::ffff:127.0.0.1", ["[2001:db8::5]"], PROXIES) == ip("2001:db8::5")


def test_no_header_or_no_peer() -> None:
    """A trusted peer without the header is the client; no peer at all is None."""
    assert client_address("127.0.0.1", [], PROXIES) == ip("127.0.0.1")
    assert client_address(None, ["198.51.100.4"], PROXIES) is None


def test_a_bad_network_is_named() -> None:
    """ACCOUNT_TRUSTED_PROXIES with something that is no network fails with it named."""
    with pytest.raises(ValueError, match="nonsense"):
        parse_networks("10.0.0.0/8 nonsense")
