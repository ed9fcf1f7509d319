"""Traffic of the last hour, per minute and per account, folded from status events and webhook
delivery attempts, in memory and bounded; what the console's Traffic view shows.

What is counted, per minute (the minute of the event's own `time` / the attempt's `at`):
- status events by kind: `sent` (an attempt handed to a provider), `delivered`, `read`,
  `failed` (the final failure), `fallback` (an attempt that failed and moved on), `late` (a
  report after its attempt was given up: counted apart, it changes nothing); `typing` and
  `clicked` are not traffic and are left out;
- per (channel, route), so "by channel" and "per route" are sums of the same counts;
- finished messages: a `delivered` or `failed` event is the message's one final event
  (CONTRACT 8), so those count messages, and the ones whose final attempt is not the first
  are the messages that fell back;
- webhook delivery attempts by outcome (`delivered`, `failed` then retried, `dead`), with the
  number of events they carried.

Bounds: only the last `minutes` minutes are kept, and each minute holds at most `max_keys`
(account, kind, channel, route) counters; beyond that new keys are counted under the account
`OTHER` (so totals stay right) and the answer says `truncated`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

STATUS_KINDS = ("sent", "delivered", "read", "failed", "fallback")
OUTCOMES = ("delivered", "failed", "dead")
CHANNELS = ("rcs", "sms", "truecaller", "whatsapp")
OTHER = "_other"  # counters past the per-minute bound: in totals, in no account's view
NONE = "-"  # an attempt that failed before it reached a route
_MINUTE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")
StatusKey = tuple[str, str, str, bool]  # kind, channel, route, fell back (final on attempt > 1)


def minute_of(ts: str) -> str | None:
    """`YYYY-MM-DDTHH:MM` of a contract timestamp, or None when it is not one."""
    return ts[:16] if isinstance(ts, str) and _MINUTE.match(ts) else None


def minutes_ending(now: datetime, count: int) -> list[str]:
    """The `count` minutes up to and including `now`'s, oldest first."""
    last = now.astimezone(UTC).replace(second=0, microsecond=0)
    return [
        (last - timedelta(minutes=count - 1 - i)).strftime("%Y-%m-%dT%H:%M") for i in range(count)
    ]


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass
class _Minute:
    status: dict[str, dict[StatusKey, int]] = field(default_factory=dict)
    hooks: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # outcome -> [n, events]
    keys: int = 0


class TrafficTally:
    """Counters per minute, per account; folds events in, answers the view of some accounts."""

    def __init__(
        self,
        minutes: int = 60,
        max_keys: int = 2000,
        *,
        clock: Callable[[], float],
    ) -> None:
        """`clock` is seconds since the epoch (`time.time` in the service): minutes are UTC."""
        self.minutes = minutes
        self.max_keys = max_keys
        self._clock = clock
        self._by_minute: dict[str, _Minute] = {}
        self.truncated: set[str] = set()  # minutes that overflowed their bound

    def clear(self) -> None:
        """Forget everything (when nobody follows the streams any more)."""
        self._by_minute.clear()
        self.truncated.clear()

    # ------------------------------------------------------------------ folding
    def _window(self) -> tuple[str, str]:
        """(oldest kept, newest accepted) minutes now (a little ahead for clock skew)."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        oldest = minutes_ending(now, self.minutes)[0]
        newest = (now + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M")
        return oldest, newest

    def _slot(self, minute: str) -> _Minute | None:
        slot = self._by_minute.get(minute)
        if slot is not None:
            return slot
        oldest, newest = self._window()
        if not oldest <= minute <= newest:
            return None
        self.prune(oldest)
        slot = self._by_minute[minute] = _Minute()
        return slot

    def prune(self, oldest: str | None = None) -> None:
        """Forget the minutes before the window."""
        oldest = oldest or self._window()[0]
        for minute in [m for m in self._by_minute if m < oldest]:
            del self._by_minute[minute]
            self.truncated.discard(minute)

    def _account(self, slot: _Minute, minute: str, account_id: str, new_key: bool) -> str:
        if new_key and slot.keys >= self.max_keys:
            self.truncated.add(minute)
            return OTHER
        return account_id

    def fold_status(self, account_id: str, event: Mapping[str, Any]) -> bool:
        """Count one status event; False when it is not traffic or outside the window."""
        kind = str(event.get("type", "")).rsplit(".", 1)[-1]
        minute = minute_of(event.get("time", ""))
        data = event.get("data")
        if kind not in STATUS_KINDS or minute is None or not isinstance(data, Mapping):
            return False
        slot = self._slot(minute)
        if slot is None:
            return False
        if data.get("late"):
            kind = "late"
        attempt = data.get("attempt")
        fell_back = kind in ("delivered", "failed") and isinstance(attempt, int) and attempt > 1
        key = (kind, str(data.get("channel") or NONE), str(data.get("route") or NONE), fell_back)
        counters = slot.status.get(account_id)
        if counters is None or key not in counters:
            account_id = self._account(slot, minute, account_id, True)
            counters = slot.status.setdefault(account_id, {})
            if key not in counters:
                slot.keys += 1
        counters[key] = counters.get(key, 0) + 1
        return True

    def fold_attempt(self, account_id: str, entry: Mapping[str, Any]) -> bool:
        """Count one webhook delivery attempt; False when unreadable or outside the window."""
        outcome = entry.get("outcome")
        minute = minute_of(entry.get("at", ""))
        if outcome not in OUTCOMES or minute is None:
            return False
        slot = self._slot(minute)
        if slot is None:
            return False
        event_ids = entry.get("event_ids")
        events = len(event_ids) if isinstance(event_ids, list) else 0
        counters = slot.hooks.get(account_id)
        if counters is None or outcome not in counters:
            account_id = self._account(slot, minute, account_id, True)
            counters = slot.hooks.setdefault(account_id, {})
            if outcome not in counters:
                slot.keys += 1
        pair = counters.setdefault(str(outcome), [0, 0])
        pair[0] += 1
        pair[1] += events
        return True

    # ------------------------------------------------------------------ answering
    def view(self, accounts: Collection[str] | None) -> dict[str, Any]:
        """The last `minutes` minutes for `accounts` (None: all, OTHER included)."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        minutes = minutes_ending(now, self.minutes)
        index = {m: i for i, m in enumerate(minutes)}
        n = len(minutes)
        by_status = {kind: [0] * n for kind in STATUS_KINDS}
        by_channel: dict[str, list[int]] = {channel: [0] * n for channel in CHANNELS}
        totals = dict.fromkeys((*STATUS_KINDS, "late", "finished", "fell_back"), 0)
        routes: dict[tuple[str, str], dict[str, int]] = defaultdict(
            lambda: dict.fromkeys(("sent", "delivered", "failed", "fallback"), 0)
        )
        hooks = {outcome: [0] * n for outcome in OUTCOMES}
        hook_totals = {outcome: {"attempts": 0, "events": 0} for outcome in OUTCOMES}
        truncated = False
        for minute, slot in self._by_minute.items():
            i = index.get(minute)
            if i is None:
                continue
            truncated = truncated or minute in self.truncated
            for account_id, counters in slot.status.items():
                if accounts is not None and account_id not in accounts:
                    continue
                for (kind, channel, route, fell_back), count in counters.items():
                    totals[kind] += count
                    if kind == "late":
                        continue
                    by_status[kind][i] += count
                    if kind == "sent":
                        by_channel.setdefault(channel, [0] * n)[i] += count
                    if kind in ("delivered", "failed"):
                        totals["finished"] += count
                        totals["fell_back"] += count if fell_back else 0
                    if kind != "read":
                        routes[(route, channel)][kind] += count
            for account_id, outcomes in slot.hooks.items():
                if accounts is not None and account_id not in accounts:
                    continue
                for outcome, (attempts, events) in outcomes.items():
                    hooks[outcome][i] += attempts
                    hook_totals[outcome]["attempts"] += attempts
                    hook_totals[outcome]["events"] += events
        return {
            "minutes": minutes,
            "status": by_status,
            "channels": by_channel,
            "totals": totals,
            "delivery_rate": _ratio(totals["delivered"], totals["finished"]),
            "fallback_rate": _ratio(totals["fell_back"], totals["finished"]),
            "routes": _route_rows(routes),
            "webhooks": {"per_minute": hooks, "totals": hook_totals},
            "truncated": truncated,
        }


def _route_rows(routes: Mapping[tuple[str, str], Mapping[str, int]]) -> list[dict[str, Any]]:
    """Per route: attempts sent and how they ended; delivery rate = delivered / ended."""
    rows = []
    for (route, channel), counts in sorted(routes.items()):
        ended = counts["delivered"] + counts["failed"] + counts["fallback"]
        rows.append(
            {
                "route": None if route == NONE else route,
                "channel": channel,
                **counts,
                "ended": ended,
                "delivery_rate": _ratio(counts["delivered"], ended),
            }
        )
    return rows
