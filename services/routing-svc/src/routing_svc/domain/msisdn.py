"""E.164 numbers: the one pattern every msisdn in routing-svc is checked against.

`+`, then 7 to 15 digits, the first not 0 (the messaging API's rule, CONTRACT section 3). The
send body, the consent and sandbox paths, WABA and Truecaller senders and the sandbox's
recipients all use it.
"""

from __future__ import annotations

import re

E164_RE = r"^\+[1-9][0-9]{6,14}$"
"""The pattern as text (for pydantic `Field(pattern=...)`)."""
E164_PATTERN = re.compile(E164_RE)


def is_e164(value: str) -> bool:
    """Whether `value` is exactly an E.164 number (no trailing newline either)."""
    return E164_PATTERN.fullmatch(value) is not None
