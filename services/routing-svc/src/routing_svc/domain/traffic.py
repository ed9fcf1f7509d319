"""Traffic classes and the promotional window: what an account's `traffic_type` means.

- The class of a message is its account's `traffic_type` (`otp`, `transactional`,
  `promotional`); conversational accounts (no traffic type) are `transactional`. It is fixed at
  acceptance, with the plan, and decides the lane an attempt waits in (SUBMIT_OTP, SUBMIT,
  SUBMIT_PROMOTIONAL, each with its own consumer) and its turn on a busy channel (`RANK`: an
  OTP send never waits behind a promotional one; see `pacing`).
- A promotional account may have a `promotional_window` (beyond CONTRACT 2): wall-clock hours
  in a time zone in which its sends are accepted. Outside them a send is refused (422
  `outside_promotional_window`, with the next opening): refused rather than held, because a
  promotional message sent hours later than its sender meant ("sale ends tonight") is worse
  than one not sent, and a refusal lets the sender decide. It is checked at acceptance; a
  message accepted inside the window is delivered even if its queueing or fallback runs past
  the end.

Pure: the caller gives the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

OTP, TRANSACTIONAL, PROMOTIONAL = "otp", "transactional", "promotional"
CLASSES = (OTP, TRANSACTIONAL, PROMOTIONAL)
RANK = {OTP: 0, TRANSACTIONAL: 1, PROMOTIONAL: 2}
"""Lower goes first."""


def traffic_class(traffic_type: str | None) -> str:
    """The class of an account's messages (conversational accounts: transactional)."""
    return traffic_type if traffic_type in CLASSES else TRANSACTIONAL


@dataclass(frozen=True)
class PromotionalWindow:
    """Hours in which promotional sends are accepted: [start, end) in `zone`'s wall-clock
    time; an end before the start spans midnight."""

    start: time
    end: time
    zone: ZoneInfo

    def is_open(self, at: datetime) -> bool:
        """Whether `at` (aware) falls in the window."""
        local = at.astimezone(self.zone).time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_opening(self, at: datetime) -> datetime:
        """The next time (UTC) the window opens after `at`."""
        local = at.astimezone(self.zone)
        day = local.date()
        if local.time().replace(tzinfo=None) >= self.start:
            day += timedelta(days=1)
        opening = datetime.combine(day, self.start, tzinfo=self.zone)
        return opening.astimezone(UTC)

    def describe(self) -> str:
        """`09:00-21:00 Asia/Kolkata`."""
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.zone.key}"


def window_from(config: Any) -> PromotionalWindow | None:
    """The window of an account config's `promotional_window` (None when absent or
    unreadable: account-svc validated it, an unreadable one must not refuse every send)."""
    if not isinstance(config, dict):
        return None
    try:
        return PromotionalWindow(
            time.fromisoformat(str(config["start"])),
            time.fromisoformat(str(config["end"])),
            ZoneInfo(str(config["timezone"])),
        )
    except (KeyError, ValueError):
        return None
