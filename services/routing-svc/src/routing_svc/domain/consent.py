"""Consent records and how a send reads them (CONTRACT sections 3 and 8).

One record per (enterprise, msisdn): `all` is the record without a channel, `channels` holds
the per-channel records, which override `all` for their channel. An inbound STOP /
UNSUBSCRIBE / START (the whole text, trimmed, any case) sets `all` and clears the channel
records, so it covers every channel of the enterprise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ConsentStatus = Literal["opted_in", "opted_out"]
OPT_OUT_WORDS = frozenset({"stop", "unsubscribe"})
OPT_IN_WORDS = frozenset({"start"})


@dataclass(frozen=True)
class ConsentRecord:
    """The consent of one user towards one enterprise."""

    all: str | None = None
    channels: dict[str, str] = field(default_factory=dict)
    updated_at: str | None = None

    def status_for(self, channel: str) -> str:
        """`opted_in`, `opted_out` or `none` for one channel (a channel record overrides)."""
        return self.channels.get(channel) or self.all or "none"

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {"all": self.all, "channels": dict(self.channels), "updated_at": self.updated_at}

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> ConsentRecord:
        """A record from its stored form (None: no record)."""
        if not raw:
            return cls()
        return cls(raw.get("all"), dict(raw.get("channels") or {}), raw.get("updated_at"))


def with_status(
    record: ConsentRecord, status: ConsentStatus, channel: str | None, at: str
) -> ConsentRecord:
    """The record after a PUT: without a channel it sets `all`, with one it sets that channel."""
    if channel is None:
        return ConsentRecord(status, dict(record.channels), at)
    return ConsentRecord(record.all, {**record.channels, channel: status}, at)


def keyword(text: str | None) -> ConsentStatus | None:
    """What an inbound text means for consent: STOP/UNSUBSCRIBE opt out, START opts in."""
    word = (text or "").strip().casefold()
    if word in OPT_OUT_WORDS:
        return "opted_out"
    if word in OPT_IN_WORDS:
        return "opted_in"
    return None


def from_keyword(status: ConsentStatus, at: str) -> ConsentRecord:
    """The record after a keyword: every channel of the enterprise, overrides cleared."""
    return ConsentRecord(status, {}, at)


def answer(msisdn: str, record: ConsentRecord) -> dict[str, Any]:
    """`GET /v1/consent/{msisdn}`: the record without channel as `status`, channel records."""
    return {
        "msisdn": msisdn,
        "status": record.all or "none",
        "channels": dict(sorted(record.channels.items())),
        "updated_at": record.updated_at,
    }


def refusal(lookup_opt_in: bool, lookup_opt_out: bool, status: str) -> str | None:
    """The problem type that refuses a send, or None: opt-outs first, then a required opt-in."""
    if lookup_opt_out and status == "opted_out":
        return "opted_out"
    if lookup_opt_in and status != "opted_in":
        return "opt_in_required"
    return None
