"""Webhook targets: parsing a URL, which addresses it may reach, and how logs show it.

A target is `https://...` (`http://` only with private targets allowed) or
`nats://[user:pass@]host[:port]/<subject>[?jetstream=true]` (CONTRACT 2 and 7). The SSRF rule
is `address_allowed`: with private targets off, a webhook may only reach global unicast
addresses, never loopback, private, link-local, shared (CGNAT), reserved, multicast or
unspecified ones (IPv4-mapped IPv6 addresses are judged as the IPv4 address they map).
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


def address_allowed(address: str, *, allow_private: bool) -> bool:
    """Whether a resolved IP address may be contacted (always, when private targets are on)."""
    if allow_private:
        return True
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
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
