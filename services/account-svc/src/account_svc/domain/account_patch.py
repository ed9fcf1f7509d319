"""JSON merge patch (RFC 7386), the body of `PATCH /v1/accounts/{id}`."""

from __future__ import annotations

import copy
from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    """`target` with `patch` applied per RFC 7386; neither input is changed or shared.

    An object patch merges key by key and a `null` value removes the key; any other patch
    replaces the target whole (arrays are not merged).
    """
    return _merge(copy.deepcopy(target), patch)


def _merge(owned: Any, patch: Any) -> Any:
    """Apply `patch` to `owned`, a private copy that may be changed in place."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: dict[Any, Any] = owned if isinstance(owned, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result
