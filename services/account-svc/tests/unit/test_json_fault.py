"""Request bodies: nesting is bounded without recursion, and a NUL is named where it is."""

from __future__ import annotations

from typing import Any

from account_svc.adapters.http_base import MAX_JSON_DEPTH, TOO_DEEP, json_fault


def nested(levels: int, kind: str) -> Any:
    """`levels` arrays or `{"a": ...}` objects around 1, built without recursion."""
    value: Any = 1
    for _ in range(levels):
        value = [value] if kind == "list" else {"a": value}
    return value


def test_the_depth_limit_is_exact() -> None:
    """`MAX_JSON_DEPTH` levels pass; one more is too deep, for arrays and objects alike."""
    for kind in ("list", "dict"):
        assert json_fault(nested(MAX_JSON_DEPTH, kind)) is None
        assert json_fault(nested(MAX_JSON_DEPTH + 1, kind)) is TOO_DEEP


def test_a_hundred_thousand_levels_are_judged_without_recursion() -> None:
    """100,000 nested levels are refused as too deep, not with a RecursionError."""
    assert json_fault(nested(100_000, "list")) is TOO_DEEP
    assert json_fault(nested(100_000, "dict")) is TOO_DEEP


def test_the_first_nul_in_document_order_is_named() -> None:
    """The NUL reported is the first one in document order, in a value or in a key."""
    body = {"a": ["ok", {"b": "x\x00"}], "c\x00": 1, "d": "\x00"}
    assert json_fault(body) == ["a", 1, "b"]
    assert json_fault({"a": "ok", "k\x00": "v", "z": "\x00"}) == ["k\x00"]
    assert json_fault({"a": [1, 2.5, None, True, "fine"]}) is None
