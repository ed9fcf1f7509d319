"""Masking of phone numbers for `do_not_store` accounts: `+91******3210`."""

from __future__ import annotations

KEEP_HEAD = 2
KEEP_TAIL = 4


def mask_msisdn(msisdn: str) -> str:
    """Keep `+`, the first two digits and the last four; every digit between becomes `*`."""
    plus = msisdn.startswith("+")
    digits = msisdn[1:] if plus else msisdn
    if len(digits) <= KEEP_HEAD + KEEP_TAIL:
        return ("+" if plus else "") + "*" * len(digits)
    hidden = len(digits) - KEEP_HEAD - KEEP_TAIL
    return ("+" if plus else "") + digits[:KEEP_HEAD] + "*" * hidden + digits[-KEEP_TAIL:]
