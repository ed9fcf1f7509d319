"""Attempts handed to a provider, and the provider's ids, in JetStream KV (`ROUTING_HANDOVERS`).

Two kinds of keys, shared by every replica:

- `a.<message_id>.<attempt>` -> `{"r": route, "t": sends not answered, "ids": [...]}`: a claim
  before a send (compare-and-set), with the provider's ids once it took the attempt;
- `p.<route>.<provider id, base64url>` -> `{"m": message_id, "a": attempt, "p": part, "n":
  parts}`: written once the provider took the attempt, read when its reports come;
- `u.<route>.<key digest>` -> `1`: a user's message handled (a late resend is ignored);
- `m.<route>.<digest>` -> `{"<seq>": sealed text}`: parts of a user's long SMS until it is
  whole.

A claim is created before the first send (expected revision 0). A redelivered attempt (its
process died) finds the claim: with ids it went out and is not sent again; without ids the
provider's answer was never heard, so it is sent once more (`t` 1 -> 2, compare-and-set); with
`t` at 2 it is not sent again, and its DR TTL decides. So a crash between a send and its answer
costs at most one duplicate. A send the provider refused or put off (throttling, no connection)
releases its claim: it did not go out. The bucket's TTL outlives any DR TTL.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import orjson
from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError
from parley_shared.sealing import SealError

from routing_svc.adapters.kv import KvWriter, is_wrong_last
from routing_svc.domain.channels import Claim, PartRef
from routing_svc.domain.vault import USER_TEXT, Vault
from routing_svc.ports import Ack

MAX_UNANSWERED_SENDS = 2
SEALED_PREFIXES = ("r1.", "s1.")
_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def _id_key(route: str, provider_id: str) -> str:
    token = base64.urlsafe_b64encode(provider_id.encode()).decode().rstrip("=")
    if not _SAFE.match(token):
        token = hashlib.sha256(provider_id.encode()).hexdigest()
    return f"p.{route}.{token}"


class KvHandovers:
    """`ports.Handovers` over a KV bucket."""

    def __init__(self, kv: Any, writer: KvWriter, cache_size: int = 100_000) -> None:
        self._kv, self._writer = kv, writer
        # provider id key -> PartRef's fields: a tuple of strings and ints, which the garbage
        # collector stops tracking (up to `cache_size` PartRef objects were that many more
        # objects for every full collection to scan; see `record_cache`)
        self._known: OrderedDict[str, tuple[str, int, int, int]] = OrderedDict()
        self._cache_size = cache_size

    async def claim(self, message_id: str, attempt: int, route: str) -> Claim:
        """Claim attempt `attempt` for a send on `route` (see the module docstring).

        The common case, a first claim, is one pipelined create; a key that exists (or was
        released) takes the slower read-and-compare path.
        """
        key = f"a.{message_id}.{attempt}"
        created = await self._writer.write(key, orjson.dumps({"r": route, "t": 1}), last=0)
        try:
            await created
            return Claim(True, route)
        except APIError as exc:
            if not is_wrong_last(exc):
                raise
        for _ in range(8):
            try:
                await self._kv.create(key, orjson.dumps({"r": route, "t": 1}))
                return Claim(True, route)
            except KeyWrongLastSequenceError:
                pass
            try:
                entry = await self._kv.get(key)
            except KeyNotFoundError:
                continue  # released meanwhile: claim afresh
            held = orjson.loads(entry.value)
            first = str(held["r"])
            if held.get("ids"):
                return Claim(False, first, tuple(held["ids"]))
            tries = int(held.get("t", 1))
            if tries >= MAX_UNANSWERED_SENDS:
                return Claim(False, first)
            try:
                await self._kv.update(
                    key, orjson.dumps({"r": first, "t": tries + 1}), last=entry.revision
                )
            except KeyWrongLastSequenceError:
                continue
            return Claim(True, first)
        raise RuntimeError(f"handover claim of {message_id}/{attempt} keeps changing")

    async def release(self, message_id: str, attempt: int) -> None:
        """The claimed send did not go out (refused, put off): forget the claim."""
        await self._kv.delete(f"a.{message_id}.{attempt}")

    async def handed(
        self, message_id: str, attempt: int, route: str, provider_ids: tuple[str, ...]
    ) -> list[Ack]:
        """Record the provider's ids of a handed attempt; the acks, to await together."""
        acks = [
            await self._writer.write(
                f"a.{message_id}.{attempt}",
                orjson.dumps({"r": route, "t": 1, "ids": list(provider_ids)}),
            )
        ]
        parts = len(provider_ids)
        for index, provider_id in enumerate(provider_ids, start=1):
            value = orjson.dumps({"m": message_id, "a": attempt, "p": index, "n": parts})
            key = _id_key(route, provider_id)
            acks.append(await self._writer.write(key, value))
            self._remember(key, PartRef(message_id, attempt, index, parts))
        return acks

    def _remember(self, key: str, ref: PartRef) -> None:
        """Keep what this process wrote: most reports come back to the replica that sent."""
        self._known[key] = (ref.message_id, ref.attempt, ref.part, ref.parts)
        if len(self._known) > self._cache_size:
            self._known.popitem(last=False)

    async def resolve(self, route: str, provider_id: str) -> PartRef | None:
        """The attempt (and part) a provider's id on `route` belongs to, or None (what this
        process wrote is answered from memory; an id never changes its attempt)."""
        key = _id_key(route, provider_id)
        known = self._known.get(key)
        if known is not None:
            return PartRef(*known)
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return None
        raw = orjson.loads(entry.value)
        return PartRef(str(raw["m"]), int(raw["a"]), int(raw.get("p", 1)), int(raw.get("n", 1)))

    async def seen(self, route: str, key: str) -> bool:
        """Whether a user's message with this key was handled before."""
        try:
            entry = await self._kv.get(_seen_key(route, key))
        except KeyNotFoundError:
            return False
        return entry.value is not None

    async def mark_seen(self, route: str, key: str) -> None:
        """Record that a user's message with this key was handled."""
        await self._kv.put(_seen_key(route, key), b"1")


def _seen_key(route: str, key: str) -> str:
    return f"u.{route}.{hashlib.sha256(key.encode()).hexdigest()[:40]}"


def _parts_key(route: str, sender: str, ref: int, total: int) -> str:
    digest = hashlib.sha256(f"{sender}|{ref}|{total}".encode()).hexdigest()[:40]
    return f"m.{route}.{digest}"


class KvUserParts:
    """`ports.UserParts` in the same bucket: `m.<route>.<digest>` -> `{"<seq>": sealed text}`.

    Parts of one message may arrive on any bind of any replica; each is added with a
    compare-and-set, and the part that completes the message gets the whole text. Each part's
    text is sealed (`Vault.seal_text`, owner: the route): which account's data protection
    applies is known only once the message is whole and routed.
    """

    def __init__(self, kv: Any, vault: Vault) -> None:
        self._kv = kv
        self._vault = vault

    def _seal(self, route: str, text: str) -> str:
        day = datetime.now(UTC).strftime("%Y%m%d")
        return self._vault.seal_text(text, route, USER_TEXT, day)

    def _open(self, route: str, held: str) -> str:
        if held.startswith(SEALED_PREFIXES):
            with contextlib.suppress(SealError):
                return self._vault.open_text(held, route, USER_TEXT)
        return held  # a part stored before parts were sealed

    async def add(
        self, route: str, sender: str, *, ref: int, total: int, seq: int, text: str
    ) -> str | None:
        """Keep one part; the whole text once every part is in, else None."""
        key = _parts_key(route, sender, ref, total)
        for _ in range(32):
            try:
                entry = await self._kv.get(key)
                held, revision = orjson.loads(entry.value or b"{}"), int(entry.revision)
            except KeyNotFoundError:
                held, revision = {}, 0
            held[str(seq)] = self._seal(route, text)
            value = orjson.dumps(held)
            try:
                if revision:
                    await self._kv.update(key, value, last=revision)
                else:
                    await self._kv.create(key, value)
            except KeyWrongLastSequenceError:
                continue
            if all(str(i) in held for i in range(1, total + 1)):
                return "".join(self._open(route, held[str(i)]) for i in range(1, total + 1))
            return None
        raise RuntimeError("parts of a user's message keep changing")

    async def forget(self, route: str, sender: str, ref: int, total: int) -> None:
        """Drop a message's parts once it was handled."""
        with contextlib.suppress(KeyNotFoundError):
            await self._kv.delete(_parts_key(route, sender, ref, total))
