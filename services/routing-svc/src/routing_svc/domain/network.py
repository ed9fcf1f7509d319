"""Client addresses: who is calling (behind trusted proxies) and whether an allowlist admits it."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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
    peer: str | None, forwarded_for: str | Sequence[str] | None, trusted: Sequence[Network]
) -> Address | None:
    """The address to check: the peer, unless the peer is a trusted proxy.

    Behind trusted proxies, `X-Forwarded-For` is read from the right: the first address that
    is not itself a trusted proxy is the client. A peer outside `trusted` is never second-guessed.
    Several `X-Forwarded-For` header lines are one list, in order (RFC 9110 5.3): a client
    cannot hide its address in a line the proxy appended after.
    """
    if forwarded_for is not None and not isinstance(forwarded_for, str):
        forwarded_for = ",".join(forwarded_for)
    address = parse_address(peer)
    if address is None or not forwarded_for or not in_any(address, trusted):
        return address
    for hop in reversed(forwarded_for.split(",")):
        candidate = parse_address(hop)
        if candidate is None:
            return None
        if not in_any(candidate, trusted):
            return candidate
    return parse_address(forwarded_for.split(",")[0])


def ip_allowed(address: Address | None, allowlist: Sequence[Network] | None) -> bool:
    """Whether an address passes an IP restriction (None = mode `all`)."""
    if allowlist is None:
        return True
    return address is not None and in_any(address, allowlist)
