"""Webhook target URLs: which ones an account may name, and how answers show their secrets.

A target is `https://...` with a host, or `nats://[user:pass@]host[:port]/<subject>`
(CONTRACT section 2); `http://` only when private targets are allowed. A URL's
`user:password` is a secret that answers show as `user:***` (CONTRACT section 8).

Only the text of the URL is judged here. Whether a host *resolves* to a private address is
decided where the request is made (webhook-svc), since names resolve differently over time.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

MAX_URL_LENGTH = 2048
"""Longest webhook URL accepted, in characters."""

REDACTED = "***"

# The authority of `scheme://authority/...`: everything up to the first `/`, `?` or `#`.
_AUTHORITY = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://(?P<authority>[^/?#]*)")
# One token of a NATS subject. Wildcards (`*`, `>`) and `$` system subjects are not targets.
_SUBJECT_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_JETSTREAM_QUERIES = frozenset({"jetstream=true", "jetstream=false"})


def webhook_url_problem(url: str, *, allow_private_targets: bool) -> str | None:
    """Why `url` cannot be a webhook target, as a sentence; None when it can."""
    if len(url) > MAX_URL_LENGTH:
        return f"Webhook URL must be at most {MAX_URL_LENGTH} characters"
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        return "Webhook URL must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "Webhook URL is not a valid URL"
    return _target_problem(parts, port, allow_private_targets=allow_private_targets)


def _target_problem(
    parts: SplitResult, port: int | None, *, allow_private_targets: bool
) -> str | None:
    """Why a parsed URL cannot be a target (scheme, host, port, NATS subject); None if it can."""
    scheme = parts.scheme.lower()
    if scheme == "http" and not allow_private_targets:
        return "Webhook URL must use https:// (http:// is allowed only for private targets)"
    if scheme not in {"https", "http", "nats"}:
        return "Webhook URL must start with https:// or nats://"
    if not parts.hostname:
        return "Webhook URL must name a host"
    if port == 0:
        return "Webhook URL port must be between 1 and 65535"
    return _nats_problem(parts) if scheme == "nats" else None


def _nats_problem(parts: SplitResult) -> str | None:
    """Why a `nats://` URL cannot be a target; None when it can."""
    if parts.username is not None and not parts.password:
        return "NATS webhook URL credentials must be given as user:password"
    subject = parts.path.removeprefix("/")
    if not subject:
        return "NATS webhook URL must name a subject as its path, e.g. nats://host:4222/my.subject"
    if not all(_SUBJECT_TOKEN.fullmatch(token) for token in subject.split(".")):
        return (
            "NATS subject must be dot-separated tokens of letters, digits, '_' or '-' "
            "(no wildcards)"
        )
    if parts.fragment:
        return "NATS webhook URL must not have a fragment"
    if parts.query and parts.query not in _JETSTREAM_QUERIES:
        return "NATS webhook URL query must be jetstream=true or jetstream=false"
    return None


def _authority_span(url: str) -> tuple[int, int] | None:
    """Start and end offsets of the authority part of `url`, or None if it has none."""
    match = _AUTHORITY.match(url)
    if match is None:
        return None
    return match.span("authority")


def url_has_credentials(url: str) -> bool:
    """Whether `url` carries a user (and maybe a password) before its host."""
    span = _authority_span(url)
    return span is not None and "@" in url[span[0] : span[1]]


def has_masked_password(url: str) -> bool:
    """Whether `url`'s password is the mask `***` that answers show in its place."""
    span = _authority_span(url)
    if span is None:
        return False
    userinfo, at, _ = url[span[0] : span[1]].rpartition("@")
    return bool(at) and userinfo.partition(":")[2] == REDACTED


def redact_url(url: str) -> str:
    """`url` with its password shown as `***` (`nats://u:***@h:4222/s`); unchanged without one."""
    span = _authority_span(url)
    if span is None:
        return url
    start, end = span
    userinfo, at, hostport = url[start:end].rpartition("@")
    user, colon, password = userinfo.partition(":")
    if not at or not colon or not password:
        return url
    return f"{url[:start]}{user}:{REDACTED}@{hostport}{url[end:]}"
