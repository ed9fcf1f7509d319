"""Body limits: JSON nesting depth, measured without recursion."""

from __future__ import annotations

from parley_runtime.bodies import MAX_JSON_DEPTH, too_deep


def nested(depth: int) -> object:
    """`depth` levels of objects and lists, alternating."""
    value: object = 1
    for level in range(depth):
        value = {"a": value} if level % 2 else [value]
    return value


def test_depth_at_the_limit_passes_and_one_more_is_refused() -> None:
    """Exactly MAX_JSON_DEPTH levels pass; one more is too deep; scalars never are."""
    assert not too_deep(nested(MAX_JSON_DEPTH))
    assert too_deep(nested(MAX_JSON_DEPTH + 1))
    assert not too_deep("text")
    assert not too_deep({"wide": [1] * 10_000})


def test_a_hundred_thousand_levels_are_judged_without_recursion() -> None:
    """A very deep document is refused without a RecursionError."""
    assert too_deep(nested(100_000))
