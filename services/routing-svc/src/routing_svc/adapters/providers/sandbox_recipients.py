"""The sandbox's simulated recipients (CONTRACT section 5): their model, and a registry.

The registry lives in the JetStream KV bucket `SANDBOX_RECIPIENTS` (key: the msisdn's digits,
without `+`; value: the recipient's JSON with every default filled), so that every routing-svc
replica simulates the same recipients. Each process keeps the whole bucket in memory, fed by
a KV watch, so a send looks its recipient up without a round trip; a PUT or DELETE made here
is in effect here at once, and in other replicas as soon as the watch brings it (milliseconds).

Updates carry the KV revision; the cache keeps for each key the newest revision it has seen
(a value, or None for a deletion made here and not yet confirmed by the watch), so an update
that the watch delivers late never overwrites a newer one made locally.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import orjson
from parley_shared.logging import get_logger
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from routing_svc.domain.channels import Channel
from routing_svc.domain.msisdn import is_e164

RECIPIENTS_BUCKET = "SANDBOX_RECIPIENTS"
CHANNELS: tuple[Channel, ...] = ("rcs", "sms", "truecaller", "whatsapp")
SandboxOutcome = Literal[
    "delivered", "delivery_failed", "invalid_number", "validity_expired", "no_report"
]
MAX_REPORT_DELAY_MS = 600_000
_KV_DELETES = ("DEL", "PURGE")
_log = get_logger(__name__)


def msisdn_key(msisdn: str) -> str:
    """The registry key of an E.164 number (its digits); ValueError when it is not E.164."""
    if not is_e164(msisdn):
        raise ValueError(
            "msisdn must be an E.164 number: + then 7 to 15 digits, not starting with 0"
        )
    return msisdn[1:]


class RecipientIn(BaseModel):
    """The body of `PUT /v1/sandbox/recipients/{msisdn}`; omitted fields take the defaults."""

    model_config = ConfigDict(extra="forbid")

    capabilities: list[Channel] = Field(
        default_factory=lambda: list(CHANNELS), description="channels it can receive on"
    )
    outcomes: dict[Channel, SandboxOutcome] = Field(
        default_factory=dict, description="per channel; a channel not named is delivered"
    )
    read: StrictBool = Field(default=False, description="report `read` after each delivery")
    report_delay_ms: Annotated[StrictInt, Field(ge=0, le=MAX_REPORT_DELAY_MS)] = 0

    @field_validator("capabilities")
    @classmethod
    def _no_repeats(cls, value: list[Channel]) -> list[Channel]:
        seen: set[str] = set()
        for index, channel in enumerate(value):
            if channel in seen:
                raise ValueError(f"channel {channel!r} is repeated at position {index}")
            seen.add(channel)
        return value


@dataclass(frozen=True)
class Recipient:
    """A simulated recipient, defaults filled in."""

    capabilities: frozenset[Channel]
    outcomes: dict[Channel, SandboxOutcome]
    read: bool
    report_delay_ms: int

    @classmethod
    def from_input(cls, body: RecipientIn) -> Recipient:
        """The recipient a PUT body describes."""
        caps = frozenset(body.capabilities)
        outcomes: dict[Channel, SandboxOutcome] = {
            channel: body.outcomes.get(channel, "delivered")
            for channel in CHANNELS
            if channel in caps or channel in body.outcomes
        }
        return cls(caps, outcomes, body.read, body.report_delay_ms)

    @classmethod
    def from_json(cls, payload: bytes) -> Recipient:
        """Parse a stored value (pydantic.ValidationError when it is not a recipient)."""
        return cls.from_input(RecipientIn.model_validate_json(payload))

    def outcome_for(self, channel: Channel) -> SandboxOutcome | None:
        """What a send on `channel` leads to; None when the recipient lacks the channel."""
        if channel not in self.capabilities:
            return None
        return self.outcomes.get(channel, "delivered")

    def to_dict(self) -> dict[str, Any]:
        """The recipient as the API shows and the bucket stores it."""
        return {
            "capabilities": [channel for channel in CHANNELS if channel in self.capabilities],
            "outcomes": dict(self.outcomes),
            "read": self.read,
            "report_delay_ms": self.report_delay_ms,
        }


class RecipientRegistry:
    """The recipients bucket, mirrored in memory by a KV watch."""

    def __init__(self, js: Any, bucket: str = RECIPIENTS_BUCKET, replicas: int = 1) -> None:
        self._js = js
        self._bucket = bucket
        self._replicas = replicas
        self._kv: Any = None
        self._cache: dict[str, tuple[int, Recipient | None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._watcher: Any = None
        self._loaded = asyncio.Event()

    async def open(self, timeout_s: float = 10.0) -> None:
        """Create the bucket if missing, start the watch, and return once the bucket is loaded."""
        if self._task is not None:
            return
        from nats.js.errors import BucketNotFoundError

        try:
            self._kv = await self._js.key_value(self._bucket)
        except BucketNotFoundError:
            self._kv = await self._js.create_key_value(
                bucket=self._bucket, history=1, replicas=self._replicas
            )
        self._task = asyncio.create_task(self._watch_forever(), name="sandbox-recipients-watch")
        try:
            await asyncio.wait_for(self._loaded.wait(), timeout_s)
        except TimeoutError:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop the watch; the registry can be opened again."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._stop_watcher()
        self._kv = None
        self._loaded = asyncio.Event()

    async def _stop_watcher(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            with contextlib.suppress(Exception):
                await watcher.stop()

    def _kv_or_raise(self) -> Any:
        if self._kv is None:
            raise RuntimeError("the recipient registry is not open")
        return self._kv

    def get(self, msisdn: str) -> Recipient | None:
        """The recipient of `msisdn` (with or without `+`), or None when it is not registered."""
        held = self._cache.get(msisdn.removeprefix("+"))
        return held[1] if held is not None else None

    async def put(self, msisdn: str, recipient: Recipient) -> None:
        """Store a recipient; in effect here at once."""
        key = msisdn_key(msisdn)
        revision = await self._kv_or_raise().put(key, orjson.dumps(recipient.to_dict()))
        self._apply(key, int(revision), recipient)

    async def delete(self, msisdn: str) -> bool:
        """Remove a recipient; False when it was not registered. In effect here at once."""
        from nats.js.errors import KeyNotFoundError

        key = msisdn_key(msisdn)
        kv = self._kv_or_raise()
        try:
            entry = await kv.get(key)
        except KeyNotFoundError:
            return False
        await kv.delete(key)
        # The delete marker's revision is above entry.revision: anything the watch brings up
        # to entry.revision is stale, and the marker itself removes the key for good.
        self._apply(key, int(entry.revision), None)
        return True

    def _apply(self, key: str, revision: int, recipient: Recipient | None) -> None:
        held = self._cache.get(key)
        if held is None or revision >= held[0]:
            self._cache[key] = (revision, recipient)

    def _on_entry(self, entry: Any) -> None:
        key = str(entry.key)
        revision = int(entry.revision)
        held = self._cache.get(key)
        if held is not None and revision <= held[0]:
            return
        if entry.operation in _KV_DELETES:
            self._cache.pop(key, None)  # the watch is in order: nothing older can follow
            return
        try:
            recipient = Recipient.from_json(entry.value)
        except ValueError:
            _log.warning("sandbox_recipient_unreadable", key_length=len(key), revision=revision)
            return
        self._cache[key] = (revision, recipient)

    def _on_loaded(self, seen: set[str], high_water: int) -> None:
        # After a re-watch, keys the snapshot no longer holds were purged meanwhile.
        for key, (revision, _) in list(self._cache.items()):
            if key not in seen and revision <= high_water:
                del self._cache[key]
        self._loaded.set()

    async def _watch_forever(self) -> None:
        backoff = 0.1
        while True:
            try:
                if await self._watch_once():
                    backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - any failure of the watch: log, re-watch
                _log.warning("sandbox_recipients_watch_failed", error=type(err).__name__)
            await self._stop_watcher()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _watch_once(self) -> bool:
        """Follow the bucket until the watch stops; True when it had loaded the snapshot."""
        self._watcher = await self._kv_or_raise().watchall()
        seen: set[str] = set()
        high_water = 0
        loading = True
        async for entry in self._watcher:
            if entry is None:
                if loading:
                    loading = False
                    self._on_loaded(seen, high_water)
                continue
            if loading:
                seen.add(str(entry.key))
                high_water = max(high_water, int(entry.revision))
            self._on_entry(entry)
        return not loading
