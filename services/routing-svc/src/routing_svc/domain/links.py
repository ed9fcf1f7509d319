"""URL Shortener: finding the http(s) URLs of a text and replacing each by a short link.

A URL runs from `http://` or `https://` to the next whitespace, quote or angle bracket;
trailing punctuation that usually ends a sentence (`.,;:!?)]}'`) is left out of it, so
"see https://x.example/a." shortens `https://x.example/a` and keeps the full stop.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

URL = re.compile(r"""https?://[^\s<>"']+""", re.IGNORECASE)
TRAILING = ".,;:!?)]}'"
CODE_BYTES = 9  # secrets.token_urlsafe(9): 12 characters, 72 random bits


def new_code() -> str:
    """An unguessable short-link code."""
    return secrets.token_urlsafe(CODE_BYTES)


@dataclass(frozen=True, slots=True)
class Link:
    """One URL replaced by a short link."""

    code: str
    url: str
    shorturl: str


def shorten(
    text: str, base: str, make_code: Callable[[], str] = new_code
) -> tuple[str, list[Link]]:
    """`text` with every http(s) URL replaced by `<base>/<code>`, and the links made."""
    links: list[Link] = []

    def replace(found: re.Match[str]) -> str:
        url = found.group(0)
        kept = url.rstrip(TRAILING)
        if len(kept) <= len("https://") or "://" not in kept:
            return url
        code = make_code()
        link = Link(code, kept, f"{base}/{code}")
        links.append(link)
        return link.shorturl + url[len(kept) :]

    return URL.sub(replace, text), links
