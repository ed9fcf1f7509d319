"""URL Shortener rules: which parts of a text are URLs, and how they are replaced."""

from __future__ import annotations

from collections.abc import Callable
from itertools import count

from routing_svc.domain.links import new_code, shorten

BASE = "https://sho.rt/s"


def codes() -> Callable[[], str]:
    """Predictable codes c0, c1, ... for assertions."""
    numbers = count()
    return lambda: f"c{next(numbers)}"


def test_every_http_and_https_url_is_replaced() -> None:
    """Both schemes are shortened, in order, each with its own code."""
    text, links = shorten("a https://x.example/1 b http://y.example/2?q=1", BASE, codes())
    assert text == "a https://sho.rt/s/c0 b https://sho.rt/s/c1"
    assert [(link.url, link.shorturl) for link in links] == [
        ("https://x.example/1", "https://sho.rt/s/c0"),
        ("http://y.example/2?q=1", "https://sho.rt/s/c1"),
    ]


def test_trailing_punctuation_stays_in_the_text() -> None:
    """A full stop, comma or closing bracket after a URL is not part of it."""
    text, links = shorten("(see https://x.example/a). Then, https://y.example,", BASE, codes())
    assert text == "(see https://sho.rt/s/c0). Then, https://sho.rt/s/c1,"
    assert [link.url for link in links] == ["https://x.example/a", "https://y.example"]


def test_text_without_urls_is_unchanged() -> None:
    """Text with no URL (or a bare scheme, or another scheme) makes no link."""
    for text in ("no links here", "ftp://x.example/a", "https://", "mailto:a@b.example"):
        assert shorten(text, BASE, codes()) == (text, [])


def test_codes_are_unguessable() -> None:
    """Codes are at least 12 URL-safe characters from a CSPRNG, and do not repeat."""
    made = {new_code() for _ in range(1000)}
    assert len(made) == 1000
    assert all(len(code) >= 12 for code in made)
