"""Limits on request bodies every HTTP (and NATS) API of Parley applies before validation.

A JSON document nested thousands of levels deep is cheap to send and expensive (or fatal:
RecursionError, an encoder's depth limit) to validate, store or re-encode; no Parley body
needs more than a handful of levels, so anything deeper is refused as malformed up front.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MAX_JSON_DEPTH = 32
"""Arrays and objects nested deeper than this are refused (account configs need about 8)."""


def too_deep(value: Any, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether decoded JSON nests arrays and objects more than `max_depth` levels (iterative:
    no recursion, whatever the depth)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
