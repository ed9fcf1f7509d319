"""Who is calling: the peer, or behind trusted proxies the address they forwarded.

`X-Forwarded-For` may arrive as several header lines; they form one list, in order (RFC 9110
5.3), so every line is joined before the walk. The list is read from the right: each trusted
proxy appends the address it received the request from, so the first address that is not a
trusted proxy is the client. Anything left of it was written by the client and proves nothing.
A peer outside the trusted networks is never second-guessed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str) -> tuple[Network, ...]:
    """A comma- or space-separated list of IPv4/IPv6 addresses or CIDR blocks."""
    networks: list[Network] = []
    for part in value.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{part[:50]!r} is not an IP address or CIDR block") from None
    return tuple(networks)


def parse_address(value: str | None) -> Address | None:
    """An IP address, or None when `value` is not one (an IPv4-mapped IPv6 is unwrapped)."""
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_any(address: Address, networks: Sequence[Network]) -> bool:
    """Whether `address` lies in one of `networks` (families never match across)."""
    return any(address.version == net.version and address in net for net in networks)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[Network]
) -> Address | None:
    """The client: the peer, unless it is a trusted proxy; then the right-to-left walk.

    A hop that is not an address stops the walk at the last trusted hop seen (the proxies did
    not forward properly, so nothing further left can be believed). When every hop is a
    trusted proxy, the leftmost is the client.
    """
    address = parse_address(peer)
    if address is None or not in_any(address, trusted):
        return address
    hops = [hop.strip() for line in forwarded_for for hop in line.split(",") if hop.strip()]
    for hop in reversed(hops):
        candidate = parse_address(hop)
        if candidate is None:
            return address
        address = candidate
        if not in_any(candidate, trusted):
            return candidate
    return address
