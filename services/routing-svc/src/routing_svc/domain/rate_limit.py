"""Per-account send rate limits: a token bucket per account (pure: the caller gives `now`).

A bucket holds up to `burst` tokens and gains `rate` a second; a send takes one. An empty
bucket answers how long until the next token, which becomes the 429's `Retry-After`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class TokenBucket:
    """One account's bucket."""

    tokens: float
    at: float

    def take(self, now: float, rate: float, burst: float) -> float:
        """Take a token: 0.0 when one was there, else the seconds until one will be."""
        self.tokens = min(burst, self.tokens + max(0.0, now - self.at) * rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / rate


class RateLimits:
    """Token buckets by key (account id), at most `max_keys` kept (least recently used go:
    a forgotten account starts again with a full bucket, which only errs on the generous
    side)."""

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate, self.burst, self._max = rate, max(burst, 1.0), max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str, now: float) -> float:
        """0.0 when `key` may send now, else seconds to wait (`rate` 0 or less: no limit)."""
        if self.rate <= 0:
            return 0.0
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.burst, now)
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(now, self.rate, self.burst)
