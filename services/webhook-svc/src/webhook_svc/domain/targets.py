"""Webhook targets: parsing a URL, which addresses it may reach, and how logs show it.

A target is `https://...` (`http://` only with private targets allowed) or
`nats://[user:pass@]host[:port]/<subject>[?jetstream=true]` (CONTRACT 2 and 7). The SSRF rule
is `address_allowed`: with private targets off, a webhook may only reach global unicast
addresses, never loopback, private, link-local, shared (CGNAT), reserved, multicast or
unspecified ones.

An IPv6 address that carries an IPv4 address is judged as that IPv4 address (every one it
carries, for Teredo), since a translator or tunnel on the way delivers the packets there:
IPv4-mapped `::ffff:a.b.c.d` and IPv4-compatible `::a.b.c.d`; NAT64 `64:ff9b::/96` (RFC 6052,
the last 32 bits); 6to4 `2002::/16` (bits 16-47); Teredo `2001::/32` (the server in bits
32-63 and the client, the last 32 bits XOR 0xffffffff). The local-use NAT64 prefix
`64:ff9b:1::/48` (RFC 8215) may hold the IPv4 address at several places depending on the
prefix length the network chose; only its /96 form (`64:ff9b:1::a.b.c.d`, bits 48-95 zero)
is unambiguous, and any other address in it is refused.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from webhook_svc.errors import InvalidTarget

NATS_DEFAULT_PORT = 4222
_DEFAULT_PORTS = {"https": 443, "http": 80, "nats": NATS_DEFAULT_PORT}


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed webhook URL."""

    url: str = field(repr=False)
    scheme: str
    host: str
    port: int
    subject: str = ""
    jetstream: bool = False
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    account_id: str = ""
    """The account whose webhook this is (connections to a NATS target are its own)."""
    version: int = 0
    """That account's config version (a newer one replaces its pooled connections)."""

    @property
    def endpoint(self) -> str:
        """`scheme://host:port`: the unit of concurrency limits and connection pools."""
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def is_nats(self) -> bool:
        """Whether this is a NATS subject rather than an HTTP endpoint."""
        return self.scheme == "nats"

    @property
    def redacted(self) -> str:
        """The URL as logs and the delivery log show it: a password becomes `***`."""
        return redact(self.url)


def parse_target(url: str) -> Target:
    """The target a webhook URL names; InvalidTarget when webhook-svc cannot deliver there."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidTarget("the webhook URL is not a valid URL") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidTarget("the webhook URL must start with https://, http:// or nats://")
    host = (parts.hostname or "").lower()
    if not host:
        raise InvalidTarget("the webhook URL names no host")
    if scheme != "nats":
        return Target(url, scheme, host, port or _DEFAULT_PORTS[scheme])
    subject = parts.path.removeprefix("/")
    if not subject or any(ch in subject for ch in " *>/"):
        raise InvalidTarget("a nats:// webhook URL must name one subject as its path")
    return Target(
        url,
        scheme,
        host,
        port or NATS_DEFAULT_PORT,
        subject=subject,
        jetstream=parts.query == "jetstream=true",
        username=parts.username,
        password=parts.password,
    )


_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_NAT64_LOCAL_96 = ipaddress.IPv6Network("64:ff9b:1::/96")
_SIXTOFOUR = ipaddress.IPv6Network("2002::/16")
_TEREDO = ipaddress.IPv6Network("2001::/32")
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def judged_as(ip: IpAddress) -> list[IpAddress] | None:
    """The addresses the SSRF rule judges for `ip`: the IPv4 addresses an IPv6 form carries,
    `ip` itself otherwise; None when it carries one at a place that cannot be known."""
    if isinstance(ip, ipaddress.IPv4Address):
        return [ip]
    carried = _carried(ip)
    return [ip] if carried == [] else carried


def _carried(ip: ipaddress.IPv6Address) -> list[IpAddress] | None:
    """The IPv4 addresses an IPv6 address carries ([] for none; None: at an unknown place)."""
    bits = int(ip)
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in _COMPATIBLE or ip in _NAT64 or ip in _NAT64_LOCAL_96:
        return [ipaddress.IPv4Address(bits & 0xFFFFFFFF)]
    if ip in _NAT64_LOCAL:
        return None
    if ip in _SIXTOFOUR:
        return [ipaddress.IPv4Address((bits >> 80) & 0xFFFFFFFF)]
    if ip in _TEREDO:
        server = ipaddress.IPv4Address((bits >> 64) & 0xFFFFFFFF)
        return [server, ipaddress.IPv4Address((bits & 0xFFFFFFFF) ^ 0xFFFFFFFF)]
    return []


def address_allowed(address: str, *, allow_private: bool) -> bool:
    """Whether a resolved IP address may be contacted (always, when private targets are on)."""
    if allow_private:
        return True
    try:
        judged = judged_as(ipaddress.ip_address(address.split("%", 1)[0]))
    except ValueError:
        return False
    return judged is not None and all(_public(ip) for ip in judged)


def _public(ip: IpAddress) -> bool:
    """Whether `ip` is a global unicast address."""
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or not ip.is_global
    )


def is_ip_literal(host: str) -> bool:
    """Whether `host` is an IP address rather than a name to resolve."""
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def redact(url: str) -> str:
    """`url` with any password replaced by `***` (`nats://u:***@host:4222/subject`)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    userinfo, at, hostport = authority.rpartition("@")
    if not at:
        return url
    user, colon, _password = userinfo.partition(":")
    shown = f"{user}:***" if colon else user
    return f"{scheme}://{shown}@{hostport}{tail}"
