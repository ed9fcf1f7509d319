"""Opaque, prefixed, time-sortable ids (`acc_...`, `msg_...`, `evt_...`)."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
PREFIXES = frozenset(
    {"ent", "agg", "bg", "usr", "acc", "msg", "evt", "inb", "dl", "bat", "dlv", "tpl", "snd"}
)


def _b32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_id(prefix: str) -> str:
    """A new id: prefix, underscore, 10 chars of millisecond time and 16 random chars."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    ms = int(time.time() * 1000)
    rnd = int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{_b32(ms, 10)}{_b32(rnd, 16)}"


def has_prefix(value: str, prefix: str) -> bool:
    """Whether `value` looks like an id of the given prefix."""
    return value.startswith(prefix + "_") and len(value) > len(prefix) + 1
