"""Who is calling: the peer, or behind trusted proxies the address they forwarded (account-svc's
login limits and routing-svc's IP restriction both ask, with one answer).

`X-Forwarded-For` may arrive as several header lines; they form one list, in order (RFC 9110
5.3), so every line is joined before the walk. The list is read from the right: each trusted
proxy appends the address it received the request from, so the first address that is not a
trusted proxy is the client. Anything left of it was written by the client and proves nothing.
A peer outside the trusted networks is never second-guessed. A hop that is not an address
stops the walk: account-svc (a rate-limit key) takes the last trusted hop seen, routing-svc (an
allowlist) takes no address at all (`malformed="refuse"`), so a garbled header never passes an
IP restriction.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Literal

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
    peer: str | None,
    forwarded_for: str | Iterable[str] | None,
    trusted: Sequence[Network],
    *,
    malformed: Literal["last_trusted", "refuse"] = "last_trusted",
) -> Address | None:
    """The client: the peer, unless it is a trusted proxy; then the right-to-left walk over
    every `X-Forwarded-For` line (one string or the header's lines).

    A hop that is not an address stops the walk: the last trusted hop seen is the answer, or
    None with `malformed="refuse"` (the proxies did not forward properly, so nothing further
    left can be believed). When every hop is a trusted proxy, the leftmost is the client.
    """
    address = parse_address(peer)
    if address is None or not in_any(address, trusted):
        return address
    lines = [forwarded_for] if isinstance(forwarded_for, str) else list(forwarded_for or ())
    hops = [hop.strip() for line in lines for hop in line.split(",") if hop.strip()]
    for hop in reversed(hops):
        candidate = parse_address(hop)
        if candidate is None:
            return None if malformed == "refuse" else address
        address = candidate
        if not in_any(candidate, trusted):
            return candidate
    return address
